//! Which WebCaricature protocol a run trains or is evaluated on, as the command line names
//! it and checkpoints store it.

use super::{Direction, IdentificationProtocol, OnBadLine, VerificationProtocol, View, WebCaricature};
use crate::data::Protocol;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// One of the four published protocols.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebCaricatureTask {
    /// Verification on the published pairs.
    #[default]
    Restricted,
    /// Verification on every caricature–photo pair of each fold's people.
    Unrestricted,
    /// Caricature probes against a photo gallery.
    C2p,
    /// Photo probes against a caricature gallery.
    P2c,
}

impl FromStr for WebCaricatureTask {
    type Err = Error;

    fn from_str(s: &str) -> Result<WebCaricatureTask> {
        match s.to_ascii_lowercase().as_str() {
            "restricted" => Ok(WebCaricatureTask::Restricted),
            "unrestricted" => Ok(WebCaricatureTask::Unrestricted),
            "c2p" => Ok(WebCaricatureTask::C2p),
            "p2c" => Ok(WebCaricatureTask::P2c),
            _ => Err(Error::invalid(
                "protocol",
                format!("`{s}` is not a WebCaricature protocol (restricted, unrestricted, c2p or p2c)"),
            )),
        }
    }
}

/// A protocol, its view, the fold a training run uses, and how bad protocol lines are met.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebCaricatureProtocol {
    pub task: WebCaricatureTask,
    pub view: View,
    /// 1-based: training uses this fold's training part (View 1 has one fold). Evaluation
    /// reports every fold.
    pub fold: usize,
    pub on_bad_line: OnBadLine,
}

/// Restricted verification, View 2, training on fold 1, stopping at a bad line.
impl Default for WebCaricatureProtocol {
    fn default() -> WebCaricatureProtocol {
        WebCaricatureProtocol {
            task: WebCaricatureTask::default(),
            view: View::default(),
            fold: 1,
            on_bad_line: OnBadLine::default(),
        }
    }
}

/// A protocol's folds as read from its files.
pub enum WebCaricatureFolds {
    Verification(VerificationProtocol),
    Identification(IdentificationProtocol),
}

impl WebCaricatureFolds {
    /// Fold `k` (0-based) as the shared protocol type.
    fn fold_protocol(&self, k: usize) -> Protocol {
        match self {
            WebCaricatureFolds::Verification(p) => p.fold_protocol(k),
            WebCaricatureFolds::Identification(p) => p.fold_protocol(k),
        }
    }

    fn folds(&self) -> usize {
        match self {
            WebCaricatureFolds::Verification(p) => p.folds.len(),
            WebCaricatureFolds::Identification(p) => p.folds.len(),
        }
    }
}

impl WebCaricature {
    /// Reads the files of `protocol`.
    pub fn folds(&self, protocol: &WebCaricatureProtocol) -> Result<WebCaricatureFolds> {
        let (view, on_bad_line) = (protocol.view, protocol.on_bad_line);
        Ok(match protocol.task {
            WebCaricatureTask::Restricted => WebCaricatureFolds::Verification(self.restricted(view, on_bad_line)?),
            WebCaricatureTask::Unrestricted => WebCaricatureFolds::Verification(self.unrestricted(view, on_bad_line)?),
            WebCaricatureTask::C2p => WebCaricatureFolds::Identification(self.identification(
                Direction::CaricatureToPhoto,
                view,
                on_bad_line,
            )?),
            WebCaricatureTask::P2c => WebCaricatureFolds::Identification(self.identification(
                Direction::PhotoToCaricature,
                view,
                on_bad_line,
            )?),
        })
    }

    /// The fold `protocol.fold` names, to train on its training part.
    pub fn training_protocol(&self, protocol: &WebCaricatureProtocol) -> Result<Protocol> {
        let folds = self.folds(protocol)?;
        if !(1..=folds.folds()).contains(&protocol.fold) {
            return Err(Error::invalid(
                "fold",
                format!(
                    "{} (this protocol's {} has folds 1 to {})",
                    protocol.fold,
                    protocol.view.label(),
                    folds.folds()
                ),
            ));
        }
        Ok(folds.fold_protocol(protocol.fold - 1))
    }
}
