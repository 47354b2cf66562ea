//! The synthetic faces written by `export_cavi` read back through the CaVI loader as the
//! same dataset: every image with its identity and modality, the same pixels up to JPEG's
//! loss, and CaVI's clean protocol equal to the synthetic protocol.

use cari::data::synth::cavi_path;
use cari::data::{Cavi, CaviProtocol, Dataset, Pair, SynthConfig, SynthFaces};
use std::collections::HashMap;

#[test]
fn an_exported_synthetic_set_loads_as_cavi_with_the_same_protocol() {
    let dir = std::env::temp_dir().join(format!("cari-synth-as-cavi-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let faces = SynthFaces::new(SynthConfig {
        seed: 4,
        identities: 5,
        photos_per_identity: 4,
        caricatures_per_identity: 8,
        size: 48,
    })
    .unwrap();
    cari::data::export_cavi(&faces, &dir).unwrap();
    let cavi = Cavi::open(&dir).unwrap();
    assert_eq!(cavi.len(), faces.len());

    // Synthetic index → CaVI index, through the file each was written to.
    let by_path: HashMap<String, usize> = (0..cavi.len())
        .map(|i| {
            let path = cavi.info(i).path.clone().unwrap();
            let rel = path.strip_prefix(dir.join("CaVI_Dataset")).unwrap().to_string_lossy().replace('\\', "/");
            (rel, i)
        })
        .collect();
    let to_cavi: Vec<usize> = (0..faces.len()).map(|i| by_path[&cavi_path(&faces, i)]).collect();
    for (i, &c) in to_cavi.iter().enumerate() {
        let (s, v) = (faces.info(i), cavi.info(c));
        assert_eq!(s.modality, v.modality, "sample {i}");
        assert_eq!(
            faces.identities()[s.identity].to_uppercase(),
            cavi.identities()[v.identity].to_uppercase(),
            "sample {i}"
        );
    }
    for i in [0, faces.len() - 1] {
        let (a, b) = (faces.load(i).unwrap(), cavi.load(to_cavi[i]).unwrap());
        assert_eq!((a.width, a.height), (b.width, b.height));
        let mean_diff =
            a.pixels.iter().zip(&b.pixels).map(|(x, y)| f64::from(x.abs_diff(*y))).sum::<f64>() / a.pixels.len() as f64;
        assert!(mean_diff < 6.0, "sample {i}: mean pixel difference {mean_diff} after JPEG");
    }

    let (synth, read) = (faces.protocol(), cavi.protocol(CaviProtocol::Clean).unwrap());
    let map_pairs = |pairs: &[Pair]| -> Vec<Pair> {
        pairs
            .iter()
            .map(|p| Pair { caricature: to_cavi[p.caricature], photo: to_cavi[p.photo], same: p.same })
            .collect()
    };
    assert_eq!(map_pairs(&synth.test_pairs), read.test_pairs);
    assert_eq!(map_pairs(&synth.validation_pairs), read.validation_pairs);
    let sorted = |v: Vec<usize>| {
        let mut v = v;
        v.sort_unstable();
        v
    };
    assert_eq!(sorted(synth.train.iter().map(|&i| to_cavi[i]).collect()), sorted(read.train.clone()));
    assert_eq!(sorted(synth.test.iter().map(|&i| to_cavi[i]).collect()), sorted(read.test.clone()));
    std::fs::remove_dir_all(&dir).unwrap();
}
