//! Verification and identification metrics against `tests/fixtures/metrics.json` (written by
//! `tools/gen_metric_fixtures.py` with scikit-learn and numpy) and against cases worked by
//! hand: ROC, AUC, EER, VAL@FAR in both protocols, the GEMM distance matrix, CMC with ties
//! and absent identities, fold summaries, and bad input.

use cari::distance::{distance_matrix, squared_distance};
use cari::eval::{
    cmc, cmc_over_folds, fold_ranges, identify, roc_curve, val_at_far, Cmc, ValProtocol, VAL_FAR_TARGETS,
};
use cari::rng::Rng;
use serde_json::Value;

fn fixture() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/metrics.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn ids(v: &Value) -> Vec<usize> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect()
}

/// The case's distances: `q / scale` for quantised cases, else the stored float32 values.
fn distances(case: &Value) -> Vec<f32> {
    match case.get("scale") {
        Some(scale) => {
            let scale = scale.as_f64().unwrap();
            floats(&case["distances_scaled"]).iter().map(|q| (q / scale) as f32).collect()
        }
        None => floats(&case["distances"]).iter().map(|&d| d as f32).collect(),
    }
}

fn pairs(case: &Value) -> Vec<(f32, bool)> {
    let same = case["same"].as_str().unwrap().chars().map(|c| c == '1');
    distances(case).into_iter().zip(same).collect()
}

/// `|got − want| ≤ tol` elementwise, naming the first mismatch.
fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol, "{what}[{i}]: got {g}, want {w} (tolerance {tol})");
    }
}

// Tolerance: rates are counts over counts on both sides, AUC, EER and interpolated thresholds
// differ only by summation order and rounding (~1e-16), and serde_json's default float parser
// may read the fixture's decimals one ulp off. Float32 values (distances, ROC thresholds)
// survive that exactly once rounded back to float32.
const TIGHT: f64 = 1e-12;

#[test]
fn roc_auc_and_eer_match_scikit_learn() {
    let fixture = fixture();
    for case in fixture["verification"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let roc = roc_curve(&pairs(case)).unwrap();
        let want = &case["roc"];
        assert_eq!(roc.far.len(), want["points"].as_u64().unwrap() as usize, "{name}: ROC points");
        let index = ids(&want["index"]);
        let pick = |values: &[f64]| index.iter().map(|&i| values[i]).collect::<Vec<_>>();
        let thresholds: Vec<f32> = index.iter().map(|&i| roc.thresholds[i]).collect();
        let want_thresholds: Vec<f32> = floats(&want["thresholds"]).iter().map(|&t| t as f32).collect();
        assert_eq!(thresholds, want_thresholds, "{name}: ROC thresholds");
        assert_close(&format!("{name} FAR"), &pick(&roc.far), &floats(&want["far"]), TIGHT);
        assert_close(&format!("{name} TAR"), &pick(&roc.tar), &floats(&want["tar"]), TIGHT);
        assert_close(&format!("{name} AUC"), &[roc.auc], &[case["auc"].as_f64().unwrap()], TIGHT);
        assert_close(&format!("{name} EER"), &[roc.eer], &[case["eer"].as_f64().unwrap()], TIGHT);
        let eer_threshold = case["eer_threshold"].as_f64().unwrap();
        assert_close(&format!("{name} EER threshold"), &[roc.eer_threshold], &[eer_threshold], TIGHT);
    }
}

#[test]
fn val_at_far_matches_numpy_in_both_protocols() {
    let fixture = fixture();
    let mut checked = 0;
    for case in fixture["verification"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let pairs = pairs(case);
        let folds = fold_ranges(pairs.len(), case["folds"].as_u64().unwrap() as usize);
        for want in case["val"].as_array().unwrap() {
            let protocol = match want["protocol"].as_str().unwrap() {
                "test_fold" => ValProtocol::TestFold,
                "reference_training_folds" => ValProtocol::ReferenceTrainingFolds,
                other => panic!("unknown protocol {other}"),
            };
            let target = want["target_far"].as_f64().unwrap();
            let got = val_at_far(&pairs, &folds, target, protocol).unwrap();
            let what = format!("{name} {protocol:?} @ FAR {target}");
            assert_close(&format!("{what}: thresholds"), &got.thresholds, &floats(&want["thresholds"]), TIGHT);
            for (label, stats, want) in [("VAL", &got.val, &want["val"]), ("FAR", &got.far, &want["far"])] {
                assert_close(&format!("{what}: {label} per fold"), &stats.per_fold, &floats(&want["per_fold"]), TIGHT);
                let summary = [want["mean"].as_f64().unwrap(), want["std"].as_f64().unwrap()];
                assert_close(&format!("{what}: {label} mean, std"), &[stats.mean, stats.std], &summary, TIGHT);
            }
            if protocol == ValProtocol::TestFold {
                assert!(got.far.per_fold.iter().all(|&f| f <= target), "{what}: FAR above target");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 18);
}

#[test]
fn roc_worked_by_hand_with_a_tie_across_kinds() {
    // Same pairs at 0.1 and 0.2, different ones at 0.2 and 0.4: points after nothing, after
    // 0.1, after 0.2 (both kinds at once), after 0.4.
    let roc = roc_curve(&[(0.2, false), (0.1, true), (0.4, false), (0.2, true)]).unwrap();
    assert_eq!(roc.thresholds, [0.1, 0.2, 0.4, f32::from_bits(0.4f32.to_bits() + 1)]);
    assert_eq!(roc.far, [0.0, 0.0, 0.5, 1.0]);
    assert_eq!(roc.tar, [0.0, 0.5, 1.0, 1.0]);
    // Of the four (same, different) combinations three are ordered right and one tied: 3.5/4.
    assert_eq!(roc.auc, 0.875);
    // Between (0, 0.5) and (0.5, 1), halfway: FAR 0.25, TAR 0.75.
    assert!((roc.eer - 0.25).abs() < 1e-15, "{}", roc.eer);
    assert!((roc.eer_threshold - 0.3).abs() < 1e-7, "{}", roc.eer_threshold);
    assert_eq!((roc.same_pairs, roc.different_pairs), (2, 2));
}

#[test]
fn separable_pairs_have_auc_one_and_eer_zero() {
    let pairs: Vec<(f32, bool)> = (0..20).map(|i| (i as f32 / 10.0, i < 8)).collect();
    let roc = roc_curve(&pairs).unwrap();
    assert_eq!(roc.auc, 1.0);
    assert_eq!(roc.eer, 0.0);
    // The crossing is the point accepting exactly the eight same pairs: distance < 0.8.
    assert!((roc.eer_threshold - 0.8).abs() < 1e-6, "{}", roc.eer_threshold);
}

#[test]
fn val_on_the_test_fold_worked_by_hand() {
    // Two identical folds: same pairs at 0.3, 0.6, 0.8; different pairs at 0.5, 0.7, 0.9, 1.1.
    let fold = [(0.3, true), (0.5, false), (0.6, true), (0.7, false), (0.8, true), (0.9, false), (1.1, false)];
    let pairs: Vec<(f32, bool)> = fold.iter().chain(&fold).copied().collect();
    let folds = fold_ranges(pairs.len(), 2);
    // FAR ≤ 1/4 allows one false accept: t = 0.7, the second different distance; VAL 2/3.
    let v = val_at_far(&pairs, &folds, 0.25, ValProtocol::TestFold).unwrap();
    assert_eq!(v.thresholds, [f64::from(0.7f32); 2]);
    assert_eq!(v.val.per_fold, [2.0 / 3.0; 2]);
    assert_eq!(v.far.per_fold, [0.25; 2]);
    assert_eq!(v.val.std, 0.0);
    // Just under 1/4 allows none: t = 0.5, VAL 1/3.
    let v = val_at_far(&pairs, &folds, 0.2499, ValProtocol::TestFold).unwrap();
    assert_eq!(v.thresholds, [f64::from(0.5f32); 2]);
    assert_eq!(v.val.per_fold, [1.0 / 3.0; 2]);
    assert_eq!(v.far.per_fold, [0.0; 2]);
}

#[test]
fn val_threshold_stops_below_tied_different_pairs() {
    // Different pairs at 0.5, 0.5, 0.9, 1.1: one false accept is allowed, but the two at 0.5
    // go together, so the largest threshold keeping FAR ≤ 1/4 is 0.5, accepting neither.
    let fold = [(0.3, true), (0.5, false), (0.5, false), (0.6, true), (0.9, false), (1.1, false)];
    let pairs: Vec<(f32, bool)> = fold.iter().chain(&fold).copied().collect();
    let v = val_at_far(&pairs, &fold_ranges(pairs.len(), 2), 0.25, ValProtocol::TestFold).unwrap();
    assert_eq!(v.thresholds, [0.5; 2]);
    assert_eq!(v.far.per_fold, [0.0; 2]);
    assert_eq!(v.val.per_fold, [0.5; 2]);
}

#[test]
fn reference_val_interpolates_on_the_training_folds_and_measures_there() {
    // Each fold: one same pair at 0.1; different pairs at 0.2005, 0.5, 0.6, 0.7. On the grid
    // FAR is 0 up to t = 0.200 and 1/4 at 0.201, so FAR 0.1 is read 0.4 of the way: 0.2004,
    // which accepts the same pair and no different one, on the training fold.
    let fold = [(0.1, true), (0.2005, false), (0.5, false), (0.6, false), (0.7, false)];
    let mut pairs: Vec<(f32, bool)> = fold.iter().chain(&fold).copied().collect();
    // A test-fold-only same pair far away: it would lower VAL if VAL were measured there.
    pairs[0] = (3.0, true);
    let v = val_at_far(&pairs, &fold_ranges(pairs.len(), 2), 0.1, ValProtocol::ReferenceTrainingFolds).unwrap();
    assert!((v.thresholds[0] - 0.2004).abs() < 1e-12, "{:?}", v.thresholds);
    assert_eq!(v.val.per_fold[0], 1.0);
    assert_eq!(v.far.per_fold[0], 0.0);
    // Fold 1 trains on fold 0, whose same pair is at 3.0: not accepted.
    assert_eq!(v.val.per_fold[1], 0.0);
    assert_eq!(v.protocol, ValProtocol::ReferenceTrainingFolds);
}

#[test]
fn reference_val_takes_threshold_zero_when_far_never_reaches_the_target() {
    let fold = [(0.1, true), (3.9995, false), (3.9999, false)];
    let pairs: Vec<(f32, bool)> = fold.iter().chain(&fold).copied().collect();
    let v = val_at_far(&pairs, &fold_ranges(pairs.len(), 2), 0.01, ValProtocol::ReferenceTrainingFolds).unwrap();
    assert_eq!(v.thresholds, [0.0; 2]);
    assert_eq!(v.val.mean, 0.0);
}

#[test]
fn val_report_serialises_with_its_protocol_and_thresholds() {
    let fold = [(0.3, true), (0.5, false), (0.6, true), (0.7, false)];
    let pairs: Vec<(f32, bool)> = fold.iter().chain(&fold).copied().collect();
    let v = val_at_far(&pairs, &fold_ranges(pairs.len(), 2), VAL_FAR_TARGETS[1], ValProtocol::TestFold).unwrap();
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["protocol"], "test_fold");
    assert_eq!(json["target_far"], 0.01);
    assert_eq!(json["val"]["per_fold"].as_array().unwrap().len(), 2);
    assert_eq!(json["thresholds"].as_array().unwrap().len(), 2);
    let roc = serde_json::to_value(roc_curve(&pairs).unwrap()).unwrap();
    assert_eq!(roc["far"].as_array().unwrap().len(), 5);
}

#[test]
fn verification_rejects_bad_input_by_name() {
    let message = |e: cari::Error| e.to_string();
    let all_same = [(0.1, true), (0.2, true)];
    assert!(message(roc_curve(&all_same).unwrap_err()).contains("2 same and 0 different"));
    assert!(message(roc_curve(&[]).unwrap_err()).contains("no pair"));
    assert!(message(roc_curve(&[(0.1, true), (f32::NAN, false)]).unwrap_err()).contains("pair 1"));

    let pairs = [(0.1, true), (0.9, false), (0.2, true), (0.8, true)];
    let folds = fold_ranges(4, 2);
    for target in [0.0, 1.0, f64::NAN] {
        assert!(val_at_far(&pairs, &folds, target, ValProtocol::TestFold).is_err(), "target {target}");
    }
    // Fold 1 (pairs 2 and 3) has no different pair.
    let e = message(val_at_far(&pairs, &folds, 0.1, ValProtocol::TestFold).unwrap_err());
    assert!(e.contains("fold 1"), "{e}");
    let e = message(val_at_far(&pairs, &[0..1, 2..4], 0.1, ValProtocol::TestFold).unwrap_err());
    assert!(e.contains("fold 1"), "{e}");
}

#[test]
fn cmc_matches_numpy_with_ties_and_an_absent_identity() {
    let fixture = fixture();
    let case = &fixture["identification"][0];
    let distances = distances(case);
    let got = cmc(&distances, &ids(&case["probe_ids"]), &ids(&case["gallery_ids"]), 12).unwrap();
    assert_close("CMC with ties", &got.rates, &floats(&case["rates"]), TIGHT);
    assert_eq!(got.probes_without_gallery_identity as u64, case["probes_without_gallery_identity"].as_u64().unwrap());
    assert_eq!(got.gallery_identities as u64, case["gallery_identities"].as_u64().unwrap());
}

#[test]
fn identify_from_embeddings_matches_numpy() {
    let fixture = fixture();
    let case = &fixture["identification"][1];
    let dim = case["dim"].as_u64().unwrap() as usize;
    let as_f32 = |v: &Value| floats(v).iter().map(|&x| x as f32).collect::<Vec<_>>();
    let (probes, gallery) = (as_f32(&case["probes"]), as_f32(&case["gallery"]));
    // Float32 GEMM against a float64 oracle on unit vectors: a few ulps of 4.
    let d: Vec<f64> = distance_matrix(&probes, &gallery, dim).unwrap().iter().map(|&x| f64::from(x)).collect();
    assert_close("distance matrix", &d, &floats(&case["distances"]), 2e-6);
    let max_rank = case["max_rank"].as_u64().unwrap() as usize;
    let got = identify(&probes, &ids(&case["probe_ids"]), &gallery, &ids(&case["gallery_ids"]), dim, max_rank).unwrap();
    assert_close("CMC from embeddings", &got.rates, &floats(&case["rates"]), TIGHT);
    assert_eq!(got.probes_without_gallery_identity, 1);
}

#[test]
fn cmc_worked_by_hand() {
    // Gallery images of identities 7, 8, 8, 9.
    // Probe 0 (identity 8): minima 7: 0.5, 8: 0.3, 9: 0.3: tied with 9 for first, so
    //   half a hit at rank 1, a hit from rank 2.
    // Probe 1 (identity 9): minima 7: 0.1, 8: 0.2, 9: 0.4: third.
    // Probe 2 (identity 5): not in the gallery: a miss everywhere.
    #[rustfmt::skip]
    let distances = [
        0.5, 0.9, 0.3, 0.3,
        0.1, 0.2, 0.2, 0.4,
        0.0, 0.0, 0.0, 0.0,
    ];
    let got = cmc(&distances, &[8, 9, 5], &[7, 8, 8, 9], 4).unwrap();
    assert_close("rates", &got.rates, &[0.5 / 3.0, 1.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0], 1e-15);
    assert_eq!(got.rank(1), Some(got.rates[0]));
    assert_eq!(got.rank(0), None);
    assert_eq!(got.rank(5), None);
    assert_eq!((got.probes, got.gallery_identities, got.probes_without_gallery_identity), (3, 3, 1));
}

#[test]
fn a_collapsed_model_scores_chance_not_perfection() {
    // Every distance equal: each of the 4 identities is equally likely to come first.
    let distances = [1.0; 3 * 8];
    let got = cmc(&distances, &[0, 1, 2], &[0, 0, 1, 1, 2, 2, 3, 3], 4).unwrap();
    assert_close("rates", &got.rates, &[0.25, 0.5, 0.75, 1.0], 1e-15);
}

#[test]
fn gemm_distances_match_the_naive_form_on_awkward_shapes() {
    let mut rng = Rng::derive(5, 0);
    // The second shape is big enough for the GEMM's multi-threaded path.
    for (p, g, dim) in [(1, 1, 1), (37, 53, 67), (300, 200, 128)] {
        let mut unit_rows = |n: usize| {
            let mut x: Vec<f32> = (0..n * dim).map(|_| rng.normal()).collect();
            for row in x.chunks_mut(dim) {
                let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
                row.iter_mut().for_each(|v| *v /= norm);
            }
            x
        };
        let (probes, gallery) = (unit_rows(p), unit_rows(g));
        let d = distance_matrix(&probes, &gallery, dim).unwrap();
        let mut worst = 0.0f32;
        for i in 0..p {
            for j in 0..g {
                let naive = squared_distance(&probes[i * dim..(i + 1) * dim], &gallery[j * dim..(j + 1) * dim]);
                worst = worst.max((d[i * g + j] - naive).abs());
            }
        }
        // Unit vectors: |p|² + |g|² − 2p·g loses a few ulps of 4 to cancellation.
        assert!(worst < 4e-6, "{p}×{g}×{dim}: max error {worst}");
        assert!(d.iter().all(|&x| x >= 0.0));
    }
    // A probe equal to a gallery image is at distance exactly 0, never below.
    let v = [0.6f32, 0.8, 0.0];
    assert_eq!(distance_matrix(&v, &v, 3).unwrap(), [0.0]);
}

#[test]
fn folds_summarise_each_rank() {
    let fold = |rates: &[f64]| Cmc {
        rates: rates.to_vec(),
        probes: 4,
        gallery_identities: 3,
        probes_without_gallery_identity: 0,
    };
    let summary = cmc_over_folds(vec![fold(&[0.5, 1.0]), fold(&[0.75, 1.0])]).unwrap();
    let rank1 = summary.rank(1).unwrap();
    assert_eq!((rank1.mean, rank1.std), (0.625, 0.125));
    assert_eq!(summary.rank(2).unwrap().std, 0.0);
    assert_eq!(summary.mean_rates(), [0.625, 1.0]);
    assert!(summary.rank(3).is_none());
    let e = cmc_over_folds(vec![fold(&[0.5, 1.0]), fold(&[0.5])]).unwrap_err().to_string();
    assert!(e.contains("fold 1 goes to rank 1"), "{e}");
    assert!(cmc_over_folds(vec![]).is_err());
}

#[test]
fn identification_rejects_bad_input_by_name() {
    let message = |r: cari::Result<Cmc>| r.unwrap_err().to_string();
    assert!(message(cmc(&[0.1, 0.2], &[1], &[1, 2, 3], 1)).contains("2 values for 1 probes × 3 gallery images"));
    assert!(message(cmc(&[0.1], &[1], &[1], 0)).contains("rank 1"));
    assert!(message(cmc(&[f32::NAN], &[1], &[1], 1)).contains("probe 0, gallery image 0"));
    assert!(message(cmc(&[], &[], &[1], 1)).contains("0 probe(s)"));
    assert!(message(identify(&[0.0; 6], &[1], &[0.0; 3], &[1], 3, 1)).contains("probe identities"));
    assert!(message(identify(&[0.0; 5], &[1], &[0.0; 3], &[1], 3, 1)).contains("probe embeddings"));
    assert!(distance_matrix(&[0.0; 4], &[0.0; 4], 0).is_err());
}
