//! `--dataset` and `--protocol` as the command line reads them, and their round trip
//! through a checkpoint's JSON.

use cari::data::{
    CaviProtocol, DataSource, ModalityRule, OnBadLine, SourceOptions, View, WebCaricatureProtocol, WebCaricatureTask,
};
use std::path::PathBuf;

fn parse(spec: &str, protocol: Option<&str>) -> cari::Result<DataSource> {
    DataSource::parse(spec, &SourceOptions { protocol: protocol.map(String::from), ..SourceOptions::default() })
}

fn message(r: cari::Result<DataSource>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn every_source_parses_with_its_default_protocol() {
    assert!(matches!(parse("synth", None).unwrap(), DataSource::Synth(_)));
    assert_eq!(
        parse("cavi:/d/cavi", None).unwrap(),
        DataSource::Cavi { root: PathBuf::from("/d/cavi"), protocol: CaviProtocol::Clean }
    );
    assert_eq!(
        parse("cavi:/d/cavi", Some("reference")).unwrap(),
        DataSource::Cavi { root: PathBuf::from("/d/cavi"), protocol: CaviProtocol::Reference }
    );
    let web = WebCaricatureProtocol {
        task: WebCaricatureTask::Restricted,
        view: View::Evaluation,
        fold: 1,
        on_bad_line: OnBadLine::Stop,
    };
    assert_eq!(
        parse("webcaricature:/d/Web Caricature", None).unwrap(),
        DataSource::WebCaricature { root: PathBuf::from("/d/Web Caricature"), protocol: web }
    );
    assert_eq!(
        parse("folder:/d/faces", None).unwrap(),
        DataSource::Folder { root: PathBuf::from("/d/faces"), modality_rule: ModalityRule::FileName }
    );
}

#[test]
fn webcaricature_takes_its_protocol_view_fold_and_bad_line_rule() {
    let options = SourceOptions {
        protocol: Some("P2C".into()),
        view: Some("view1".parse().unwrap()),
        fold: Some(7),
        on_bad_line: Some("skip".parse().unwrap()),
        ..SourceOptions::default()
    };
    let source = DataSource::parse("webcaricature:/w", &options).unwrap();
    let expected = WebCaricatureProtocol {
        task: WebCaricatureTask::P2c,
        view: View::Development,
        fold: 7,
        on_bad_line: OnBadLine::Skip,
    };
    assert_eq!(source, DataSource::WebCaricature { root: PathBuf::from("/w"), protocol: expected });
    assert_eq!(source.spec(), "webcaricature:/w");
    for task in ["restricted", "unrestricted", "c2p", "p2c"] {
        assert!(parse("webcaricature:/w", Some(task)).is_ok(), "{task}");
    }
}

#[test]
fn settings_not_typed_keep_the_stored_ones() {
    let stored = WebCaricatureProtocol {
        task: WebCaricatureTask::C2p,
        view: View::Development,
        fold: 4,
        on_bad_line: OnBadLine::Skip,
    };
    let source = DataSource::WebCaricature { root: PathBuf::from("/w"), protocol: stored };
    assert_eq!(source.clone().with(&SourceOptions::default()).unwrap(), source);
    let typed = SourceOptions { view: Some(View::Evaluation), ..SourceOptions::default() };
    let expected = WebCaricatureProtocol { view: View::Evaluation, ..stored };
    assert_eq!(
        source.with(&typed).unwrap(),
        DataSource::WebCaricature { root: PathBuf::from("/w"), protocol: expected }
    );

    let cavi = DataSource::Cavi { root: PathBuf::from("/c"), protocol: CaviProtocol::Reference };
    assert_eq!(cavi.clone().with(&SourceOptions::default()).unwrap(), cavi);
    let folder = DataSource::Folder { root: PathBuf::from("/f"), modality_rule: ModalityRule::Subfolders };
    assert_eq!(folder.clone().with(&SourceOptions::default()).unwrap(), folder);
    let e = folder.with(&SourceOptions { protocol: Some("clean".into()), ..SourceOptions::default() });
    assert!(e.unwrap_err().to_string().contains("invalid value for protocol:"));
}

#[test]
fn sources_round_trip_through_json() {
    let options = SourceOptions {
        protocol: Some("unrestricted".into()),
        modality_rule: Some(ModalityRule::Subfolders),
        ..SourceOptions::default()
    };
    for spec in ["synth", "cavi:/c", "webcaricature:/w", "folder:/f"] {
        let options = if spec.starts_with("webcaricature") {
            options.clone()
        } else if spec.starts_with("folder") {
            SourceOptions { protocol: None, ..options.clone() }
        } else {
            SourceOptions::default()
        };
        let source = DataSource::parse(spec, &options).unwrap();
        let json = serde_json::to_string(&source).unwrap();
        assert_eq!(serde_json::from_str::<DataSource>(&json).unwrap(), source, "{json}");
    }
}

#[test]
fn wrong_specs_and_protocols_name_the_flag() {
    for spec in ["cavi", "cavi:", "imagenet:/x", "folder:", "Synth"] {
        let e = message(parse(spec, None));
        assert!(e.contains("invalid value for dataset:") && e.contains("webcaricature:PATH"), "{spec}: {e}");
    }
    let e = message(parse("cavi:/c", Some("restricted")));
    assert!(e.contains("invalid value for protocol:") && e.contains("clean or reference"), "{e}");
    let e = message(parse("webcaricature:/w", Some("clean")));
    assert!(e.contains("invalid value for protocol:") && e.contains("restricted, unrestricted, c2p or p2c"), "{e}");
    for spec in ["synth", "folder:/f"] {
        let e = message(parse(spec, Some("clean")));
        assert!(e.contains("invalid value for protocol:") && e.contains("no protocols"), "{spec}: {e}");
    }
    assert!("view3".parse::<View>().unwrap_err().to_string().contains("invalid value for view:"));
    assert!("maybe".parse::<OnBadLine>().unwrap_err().to_string().contains("invalid value for on_bad_line:"));
    assert!("tags".parse::<ModalityRule>().unwrap_err().to_string().contains("invalid value for modality_rule:"));
}
