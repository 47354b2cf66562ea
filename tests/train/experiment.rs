//! The Table-I experiment end to end on a tiny configuration: every strategy trains, is
//! evaluated on the held-out synthetic test part, and the table, its JSON and the
//! Figure-3 plots are written.

use cari::data::{DataConfig, LoaderOptions};
use cari::experiment::{run_experiment, Experiment};
use cari::model::{NetworkConfig, Weighting};
use cari::train::TrainConfig;
use cari::Device;

#[test]
fn the_experiment_writes_the_table_and_the_plots() {
    let out = std::env::temp_dir().join(format!("cari-experiment-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let data = DataConfig::synth(5, 4, 75, 8, 2).unwrap();
    let exp = Experiment {
        data,
        network: NetworkConfig { image_size: 75, num_classes: 5, width_divisor: 16, ..Default::default() },
        training: TrainConfig::sgd(0.01, 2).unwrap(),
        steps: 3,
        strategies: Experiment::table_one_strategies(),
        loader: LoaderOptions { workers: 2, ..LoaderOptions::default() },
        eval_batch: 7,
    };
    let rows = run_experiment(&exp, &out, &Device::cpu(), false).unwrap();
    assert_eq!(rows.iter().map(|r| r.strategy).collect::<Vec<_>>(), Experiment::table_one_strategies());
    for r in &rows {
        // 5 identities × (1 test photo + 1 test caricature).
        assert_eq!(r.report.images, 10, "{}", r.strategy);
        let accuracy = r.report.figure(cari::batch::Task::Verification).unwrap();
        assert!((0.0..=1.0).contains(&accuracy));
        let records = cari::train::read_training_log(&r.log).unwrap().records;
        assert_eq!(records.len(), 3);
    }
    let table = std::fs::read_to_string(out.join("table1.md")).unwrap();
    assert_eq!(table.lines().count(), 2 + rows.len(), "{table}");
    assert!(table.contains("dynamic multi-task (paper)") && table.contains("naive dynamic"), "{table}");
    for file in ["table1.json", "figure3.png", "figure3.svg"] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    assert!(rows.iter().any(|r| r.strategy == Weighting::Dynamic));
    std::fs::remove_dir_all(&out).unwrap();
}
