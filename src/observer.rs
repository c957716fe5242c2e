//! Watching a fit or a scoring run: progress per stage, and a look at D after every epoch.

use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};
use wscxr_detector::{Discriminator, EpochReport};

/// The stages of the method, in the order a fit runs them. Stages may be added: a `match` on it
/// needs a `_` arm.
///
/// ```compile_fail
/// // Without a `_` arm this does not compile, because stages may be added.
/// fn label(stage: wscxr::Stage) -> u8 {
///     use wscxr::Stage::*;
///     match stage {
///         NormalFeatures | AbnormalFeatures | NormalBank | Mining => 0,
///         Training | Calibration | Scoring => 1,
///     }
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Stage {
    /// Backbone features of the normal training images (counted in images).
    NormalFeatures,
    /// Backbone features of the K abnormal images (counted in images).
    AbnormalFeatures,
    /// Patch features and the normal bank's coreset.
    NormalBank,
    /// Anomaly mining: prototypes from the abnormal patches.
    Mining,
    /// Discriminator training (counted in epochs).
    Training,
    /// Scoring the validation images that calibrate the detector (counted in images).
    Calibration,
    /// Scoring images (counted in images).
    Scoring,
}

impl Stage {
    /// A short lower-case label, e.g. for progress bars.
    pub fn label(self) -> &'static str {
        match self {
            Stage::NormalFeatures => "normal features",
            Stage::AbnormalFeatures => "abnormal features",
            Stage::NormalBank => "normal bank",
            Stage::Mining => "mining",
            Stage::Training => "training",
            Stage::Calibration => "calibration",
            Stage::Scoring => "scoring",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// Receives a fit's or a scoring run's progress. Both methods do nothing by default, so an
/// implementation overrides only what it needs. Observers are `Send`, so that a builder holding
/// one, or a fit that reports to one, can move to another thread.
pub trait Observer: Send {
    /// `done` of `total` units of `stage` are finished.
    fn progress(&mut self, stage: Stage, done: usize, total: usize) {
        let _ = (stage, done, total);
    }

    /// An epoch of discriminator training ended; `discriminator` is an inference copy of D.
    /// Returning `ControlFlow::Break(())` stops training there (the detector keeps this D).
    fn epoch(&mut self, report: EpochReport, discriminator: &Discriminator) -> ControlFlow<()> {
        let _ = (report, discriminator);
        ControlFlow::Continue(())
    }
}

/// The observer that watches nothing.
impl Observer for () {}
