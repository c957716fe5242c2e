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

/// The parts of a fit's or a scoring run's time, as [`Observer::timed`] reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Part {
    /// Reading and decoding image files, on helper threads beside the forward passes: CPU
    /// seconds summed over images.
    Decode,
    /// Resizing and normalising images into network input, on the same helper threads: CPU
    /// seconds summed over images.
    Preprocess,
    /// Waiting for decoded images, wall time: the decoding that the forward passes did not hide.
    WaitingForImages,
    /// The backbone's forward passes (or feature cache reads), wall time.
    Forward,
    /// Patch features: 5 x 5 average pooling and concatenation, wall time.
    PatchAggregation,
    /// The normal bank's coreset, wall time.
    Coreset,
    /// Anomaly mining, wall time.
    Mining,
    /// Discriminator training, wall time.
    Training,
    /// Patch and image scores from the patch features (D, or the bank's nearest neighbours for
    /// K = 0), and calibration, wall time.
    Scoring,
    /// Writing results (CSV rows, anomaly maps, heatmap pictures, the detector file), wall time.
    Writing,
}

impl Part {
    /// A short lower-case label.
    pub fn label(self) -> &'static str {
        match self {
            Part::Decode => "decode",
            Part::Preprocess => "resize and normalise",
            Part::WaitingForImages => "waiting for images",
            Part::Forward => "forward",
            Part::PatchAggregation => "patch aggregation",
            Part::Coreset => "coreset",
            Part::Mining => "mining",
            Part::Training => "training",
            Part::Scoring => "scoring",
            Part::Writing => "writing",
        }
    }

    /// Whether the part runs beside others on helper threads, so that its seconds are CPU time
    /// rather than a share of the wall time.
    pub fn overlapped(self) -> bool {
        matches!(self, Part::Decode | Part::Preprocess)
    }
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// Receives a fit's or a scoring run's progress. Every method does nothing by default, so an
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

    /// `seconds` more were spent in `part` (see [`Timings`](crate::Timings), which adds them up).
    fn timed(&mut self, part: Part, seconds: f64) {
        let _ = (part, seconds);
    }

    /// Asked between units of work (each forward batch, each epoch, each scoring chunk, before
    /// the coreset and the mining): `true` stops the run there with
    /// [`WscxrError::Interrupted`](crate::WscxrError::Interrupted). What a caller polls to stop
    /// cleanly on Ctrl-C (the Python package checks its signals here).
    fn interrupted(&mut self) -> bool {
        false
    }
}

/// `Err(Interrupted)` when `observer` asks to stop.
pub(crate) fn check_interrupted(
    observer: &mut dyn Observer,
    stage: Stage,
) -> Result<(), crate::WscxrError> {
    if observer.interrupted() {
        Err(crate::WscxrError::Interrupted { stage })
    } else {
        Ok(())
    }
}

/// The observer that watches nothing.
impl Observer for () {}

/// Passes everything on, with progress counted over all images rather than over one part of
/// them: `offset` images came before, of `total`.
pub(crate) struct Offset<'a> {
    pub(crate) inner: &'a mut dyn Observer,
    pub(crate) offset: usize,
    pub(crate) total: usize,
}

impl Observer for Offset<'_> {
    fn progress(&mut self, stage: Stage, done: usize, _: usize) {
        self.inner.progress(stage, self.offset + done, self.total);
    }

    fn epoch(&mut self, report: EpochReport, discriminator: &Discriminator) -> ControlFlow<()> {
        self.inner.epoch(report, discriminator)
    }

    fn timed(&mut self, part: Part, seconds: f64) {
        self.inner.timed(part, seconds);
    }

    fn interrupted(&mut self) -> bool {
        self.inner.interrupted()
    }
}
