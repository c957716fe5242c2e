//! Evaluation protocols: which images a fit may see, which choose the decision threshold, which
//! are scored, and what one run reports.
//!
//! - [`Protocol::Honest`] trains a fixed number of epochs and takes the ACC/F1 threshold (Youden's
//!   J) from images that no fit sees: a validation split, or a part carved off `train/` by
//!   patient.
//! - [`Protocol::Oracle`] is the official code's practice: the best epoch and the threshold are
//!   both chosen on the evaluated images themselves. It is optimistic and labelled so everywhere.
//!
//! A dataset folder holds `train/normal`, `train/anomaly` and split folders (`val/normal`,
//! `val/anomaly`, ...).

mod evaluation;
mod protocol;
mod records;
mod splits;

pub use evaluation::Evaluation;
pub use protocol::{Protocol, honest_metrics, oracle_metrics};
pub use records::{
    BoxedRecord, LocalisationSummary, MeanStd, Report, RunRecord, Summary, summarize,
    summarize_localisation,
};
pub use splits::{BoxedImages, SplitOptions, Splits, ThresholdSource};

pub use crate::patients::patient_id;
#[cfg(feature = "plots")]
pub use crate::plot::{RocSeries, write_roc_png};
pub use crate::training_set::LabelledImages;
