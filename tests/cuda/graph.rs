//! Captured device graphs: the inference pass recorded once and replayed per batch
//! (`infer::EmbeddingGraph`) gives the very embeddings of the pass run as usual, batch
//! after batch, with one graph launch and no allocation per batch; a batch of another
//! shape is refused; a capture that would allocate, read or wait is an error naming it;
//! and a device without graphs says so.

use cari::backend::Capture;
use cari::infer::EmbeddingGraph;
use cari::model::{MultiTaskNet, NetworkConfig};
use cari::rng::Rng;
use cari::tensor::Tensor;
use cari::Device;

fn net() -> MultiTaskNet {
    MultiTaskNet::new(NetworkConfig { image_size: 75, num_classes: 6, width_divisor: 16, ..Default::default() })
        .unwrap()
}

fn images(batch: usize, seed: u64, device: &Device) -> Tensor {
    let n = batch * 75 * 75 * 3;
    Tensor::from_vec(Rng::new(seed).vec(n, -1.0, 1.0), [batch, 75, 75, 3], device).unwrap()
}

/// Devices of this test's own, so no other test's work lands in their counts: an emulation,
/// and the real GPU with `CARI_TEST_CUDA=1` (`tools/gpu_suite.sh`).
fn graph_devices() -> Vec<Device> {
    let mut names = vec!["cuda-emu:random:90420"];
    if std::env::var_os("CARI_TEST_CUDA").is_some_and(|v| v == "1") {
        names.push("cuda:0");
    }
    names.into_iter().map(|n| Device::parse(n).unwrap_or_else(|e| panic!("opening {n}: {e}"))).collect()
}

#[test]
fn a_replayed_inference_pass_gives_the_embeddings_of_the_pass_itself() {
    for dev in graph_devices() {
        replayed_inference_on(&dev);
    }
}

fn replayed_inference_on(dev: &Device) {
    let net = net();
    let params = net.init_params(3, dev).unwrap();
    let batches: Vec<Tensor> = (0..3).map(|s| images(4, 10 + s, dev)).collect();
    let eager: Vec<Vec<f32>> = batches.iter().map(|b| net.embed(&params, b).unwrap().to_vec().unwrap()).collect();
    let mut graph = EmbeddingGraph::capture(&net, &params, batches[0].shape().clone(), dev).unwrap();
    assert!(graph.launches() > 20, "{} launches", graph.launches());
    for (b, want) in batches.iter().zip(&eager).rev() {
        // Work run as usual between replays gets buffers of its own, not the graph's.
        assert_eq!(net.embed(&params, &batches[0]).unwrap().to_vec().unwrap(), eager[0]);
        let before = dev.profile().unwrap();
        let got = graph.embed(b).unwrap();
        let p = dev.profile().unwrap().since(&before);
        assert_eq!(&got, want, "replayed embeddings differ from the pass's");
        assert_eq!((p.graph_replays, p.replayed_launches as usize), (1, graph.launches()), "{p:?}");
        // The host launches only the copy of the images into the graph's input.
        assert_eq!((p.host_launches(), p.allocations, p.reads), (1, 0, 1), "{p:?}");
    }
    let err = graph.embed(&images(3, 1, dev)).unwrap_err().to_string();
    assert!(err.contains("[4, 75, 75, 3]") && err.contains("[3, 75, 75, 3]") && err.contains("graph"), "{err}");
    // Gone, the graph gives its buffers back: the pass run as usual allocates nothing.
    drop(graph);
    let before = dev.profile().unwrap();
    net.embed(&params, &batches[1]).unwrap();
    assert_eq!(dev.profile().unwrap().since(&before).allocations, 0);
}

#[test]
fn a_capture_refuses_allocations_reads_and_waits() {
    // A device of this test's own: a capture takes the device's whole stream, whichever
    // thread queues work on it (as a CUDA stream capture does).
    let dev = Device::parse("cuda-emu:random:90423").unwrap();
    let be = dev.backend();
    let x = be.upload(vec![1.0; 8]).unwrap();
    // A size the pool has never held: nothing to take it from.
    be.begin_capture(Capture::Kept).unwrap();
    let alloc = be.zeros(12_345).map(drop).unwrap_err().to_string();
    let read = be.download(&x).unwrap_err().to_string();
    let wait = be.synchronize().unwrap_err().to_string();
    be.end_capture().unwrap();
    assert!(alloc.contains("pool") && alloc.contains("49380 bytes"), "{alloc}");
    assert!(read.contains("read") && read.contains("captured"), "{read}");
    assert!(wait.contains("wait") && wait.contains("captured"), "{wait}");
    // The device runs work again once the capture has ended.
    assert_eq!(be.download(&x).unwrap(), vec![1.0; 8]);
}

#[test]
fn a_device_without_graphs_says_so() {
    let cpu = Device::cpu();
    assert!(!cpu.backend().records_graphs());
    let err = cpu.backend().begin_capture(Capture::Once).unwrap_err().to_string();
    assert!(err.contains("graph") && err.contains("cpu"), "{err}");
}

/// What a run of training steps leaves: every step's report, every state tensor by name,
/// and the profile of the last step.
struct Trained {
    reports: Vec<String>,
    state: Vec<(String, Vec<f32>)>,
    last: cari::backend::Profile,
}

/// `steps` training steps on `dev`, each recorded and replayed as a graph or run as usual.
fn train(dev: &Device, replayed: bool, steps: usize) -> Trained {
    use cari::data::{DataConfig, LoaderOptions};
    use cari::optim::LrSchedule;
    use cari::train::{TrainConfig, Trainer};
    let net = net();
    let params = net.init_params(5, dev).unwrap();
    let mut data =
        DataConfig::synth(6, 4, 75, 8, 5).unwrap().open_for_training(None, LoaderOptions::default()).unwrap();
    let mut trainer =
        Trainer::new(net, params, TrainConfig::reference(LrSchedule::constant(0.01).unwrap(), 5)).unwrap();
    trainer.replay_steps(replayed);
    let mut reports = Vec::new();
    let mut last = None;
    for _ in 0..steps {
        let batch = data.loader.next_batch().unwrap().to_batch(dev).unwrap();
        let before = dev.profile().unwrap();
        reports.push(format!("{:?}", trainer.step(&batch).unwrap()));
        last = Some(dev.profile().unwrap().since(&before));
    }
    let state = trainer.state_tensors().into_iter().map(|(n, t)| (n, t.to_vec().unwrap())).collect();
    Trained { reports, state, last: last.expect("a step ran") }
}

#[test]
fn training_steps_replayed_as_graphs_are_the_steps_run_as_usual() {
    // A device of its own (devices are shared by name), the GPU with CARI_TEST_CUDA=1.
    let mut devices = vec![Device::parse("cuda-emu:random:90421").unwrap()];
    devices.extend(graph_devices().into_iter().filter(|d| d.name() == "cuda:0"));
    for dev in devices {
        let (want, got) = (train(&dev, false, 7), train(&dev, true, 7));
        assert_eq!(got.reports, want.reports, "{dev}");
        assert_eq!(got.state, want.state, "{dev}: parameters, optimizer state, moving averages, centers");
        let (usual, replayed) = (want.last, got.last);
        // A steady step: the kernels of the step run as usual, all but the one packing the
        // figures for their read in one graph launch; no allocation, one wait.
        let table = replayed.table(1);
        assert_eq!(replayed.kernels, usual.kernels, "{table}");
        assert_eq!((replayed.graph_replays, replayed.host_launches()), (1, 1), "{table}");
        assert_eq!((replayed.allocations, replayed.host_syncs()), (0, 1), "{table}");
    }
}
