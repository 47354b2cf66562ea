//! Bad input gets a typed error naming the op and the shapes, never a panic.

use crate::common::{cpu, random};
use cari::autograd::{ParamStore, Var};
use cari::batch::{Batch, Modality};
use cari::io::WeightsFile;
use cari::model::{MultiTaskNet, NetworkConfig};
use cari::ops::{self, Conv2dSpec, Padding};
use cari::{DType, Device, Error, Tensor};

fn var(t: Tensor) -> Var {
    Var::constant(t)
}

#[test]
fn conv2d_channel_mismatch_names_the_op_and_both_shapes() {
    let err = ops::conv2d(
        &var(random([1, 5, 5, 3], 1)),
        &var(random([3, 3, 4, 8], 2)),
        Conv2dSpec { stride: 1, padding: Padding::Same },
    )
    .err()
    .unwrap();
    assert!(matches!(err, Error::ShapeMismatch { op: "conv2d", .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("[1, 5, 5, 3]") && msg.contains("[3, 3, 4, 8]"), "{msg}");
}

#[test]
fn valid_conv_on_a_too_small_input_is_refused() {
    let err = ops::conv2d(
        &var(random([1, 2, 2, 3], 1)),
        &var(random([3, 3, 3, 4], 2)),
        Conv2dSpec { stride: 1, padding: Padding::Valid },
    )
    .err()
    .unwrap();
    assert!(matches!(err, Error::InvalidShape { op: "conv2d", .. }), "{err:?}");
}

#[test]
fn wrong_rank_and_empty_batches_are_refused() {
    let w = var(random([3, 3, 3, 4], 2));
    let same = Conv2dSpec { stride: 1, padding: Padding::Same };
    assert!(matches!(ops::conv2d(&var(random([5, 5, 3], 1)), &w, same), Err(Error::InvalidShape { .. })));
    let empty = Tensor::from_vec(vec![], [0, 5, 5, 3], &cpu()).unwrap();
    assert!(matches!(ops::conv2d(&var(empty), &w, same), Err(Error::EmptyBatch { op: "conv2d", .. })));
    let empty_rows = Tensor::from_vec(vec![], [0, 4], &cpu()).unwrap();
    assert!(matches!(ops::softmax(&var(empty_rows)), Err(Error::EmptyBatch { op: "softmax", .. })));
}

#[test]
fn elementwise_shape_mismatch() {
    let err = ops::add(&var(random([2, 3], 1)), &var(random([3, 2], 2))).err().unwrap();
    assert!(matches!(err, Error::ShapeMismatch { op: "add", .. }), "{err:?}");
}

#[test]
fn dtype_mismatch_names_the_op() {
    let half = random([2, 3], 1).to_dtype(DType::BF16).unwrap();
    let err = ops::relu(&var(half)).err().unwrap();
    assert!(matches!(err, Error::DTypeMismatch { op: "relu", expected: DType::F32, got: DType::BF16 }), "{err:?}");
}

#[test]
fn labels_out_of_range_and_miscounted() {
    let logits = var(random([3, 4], 1));
    assert!(matches!(
        ops::softmax_cross_entropy(&logits, &[0, 4, 1]),
        Err(Error::LabelOutOfRange { label: 4, classes: 4, .. })
    ));
    assert!(matches!(ops::softmax_cross_entropy(&logits, &[0, 1]), Err(Error::InvalidShape { .. })));
}

#[test]
fn unknown_parameter_is_named() {
    let store = ParamStore::new();
    let err = store.var(None, "InceptionResnetV1/Nope/weights").err().unwrap();
    assert!(err.to_string().contains("InceptionResnetV1/Nope/weights"), "{err}");
}

#[test]
fn replacing_a_parameter_with_another_shape_is_refused() {
    let net =
        MultiTaskNet::new(NetworkConfig { image_size: 75, num_classes: 3, width_divisor: 16, ..Default::default() })
            .unwrap();
    let mut params = net.init_params(0, &cpu()).unwrap();
    let err = params.set("Logits_verif/biases", random([4], 1)).err().unwrap();
    assert!(err.to_string().contains("Logits_verif/biases"), "{err}");
}

#[test]
fn network_input_of_the_wrong_size_is_refused() {
    let net =
        MultiTaskNet::new(NetworkConfig { image_size: 75, num_classes: 3, width_divisor: 16, ..Default::default() })
            .unwrap();
    let params = net.init_params(0, &cpu()).unwrap();
    let err = net.embed(&params, &random([1, 80, 80, 3], 1)).err().unwrap();
    assert!(err.to_string().contains("[1, 80, 80, 3]"), "{err}");
}

#[test]
fn inconsistent_batches_are_refused() {
    assert!(Batch::new(random([2, 9, 9, 3], 1), vec![0], vec![Modality::Photo; 2]).is_err());
    assert!(Batch::new(random([2, 9, 9, 1], 1), vec![0, 1], vec![Modality::Photo; 2]).is_err());
}

#[test]
fn unknown_device_and_missing_cuda_are_clear() {
    let err = Device::parse("tpu").err().unwrap();
    assert!(err.to_string().contains("tpu"), "{err}");
    // On a machine with a GPU `cuda:0` opens; without a driver it is a clear error.
    if let Err(err) = Device::parse("cuda:0") {
        let msg = err.to_string();
        assert!(msg.contains("cuda:0") && (msg.contains("libcuda") || msg.contains("nvrtc")), "{msg}");
    }
}

#[test]
fn corrupt_and_truncated_weight_files_are_refused_with_the_path() {
    let dir = std::env::temp_dir().join(format!("cari-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"definitely not safetensors").unwrap();
    let err = WeightsFile::open(&garbage).err().unwrap();
    assert!(err.to_string().contains("garbage.safetensors"), "{err}");

    let good = dir.join("good.safetensors");
    cari::io::save_safetensors(&good, &[("w".to_string(), random([4, 5], 1))], Default::default()).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let truncated = dir.join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() - 7]).unwrap();
    let err = WeightsFile::open(&truncated).err().unwrap();
    assert!(err.to_string().contains("truncated.safetensors"), "{err}");

    let back = WeightsFile::open(&good).unwrap();
    assert_eq!(back.tensor("w", &cpu()).unwrap().to_vec().unwrap(), random([4, 5], 1).to_vec().unwrap());
    let err = back.tensor("missing", &cpu()).err().unwrap();
    assert!(err.to_string().contains("missing"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
