use std::path::PathBuf;

use wscxr_backbone::BackboneError;
use wscxr_bank::BankError;
use wscxr_detector::DetectorError;

/// Errors of the end-to-end pipeline.
#[derive(Debug, thiserror::Error)]
pub enum WscxrError {
    /// From the backbone: weights, images, taps.
    #[error(transparent)]
    Backbone(#[from] BackboneError),
    /// From the feature bank: coreset, search, mining, mixing.
    #[error(transparent)]
    Bank(#[from] BankError),
    /// From training or scoring.
    #[error(transparent)]
    Detector(DetectorError),
    /// A saved detector that cannot be loaded.
    #[error("detector file {path}: {reason}")]
    DetectorFile {
        /// The file.
        path: PathBuf,
        /// Why it was rejected.
        reason: String,
    },
    /// A folder or file list that cannot be used.
    #[error("{path}: {reason}")]
    Data {
        /// The folder or file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A configuration value out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
}
