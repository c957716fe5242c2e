use std::path::PathBuf;

use wscxr_backbone::BackboneError;
use wscxr_bank::BankError;
use wscxr_detector::DetectorError;
use wscxr_image::ImageError;

/// Errors of the end-to-end pipeline. Each stage's own errors pass through unchanged; the rest
/// name the value, file or folder at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WscxrError {
    /// From the backbone: weights, images, taps.
    #[error(transparent)]
    Backbone(#[from] BackboneError),
    /// Weights could not be downloaded (feature `download`).
    #[cfg(feature = "download")]
    #[error(transparent)]
    Download(#[from] crate::download::DownloadError),
    /// From the feature bank: patch features, coreset, search, mining, mixing.
    #[error(transparent)]
    Bank(#[from] BankError),
    /// From training or scoring.
    #[error(transparent)]
    Detector(#[from] DetectorError),
    /// A configuration or protocol value out of its range.
    #[error("invalid {name} = {value}: {reason}")]
    InvalidParameter {
        /// The parameter, as the configuration names it.
        name: &'static str,
        /// Its value, as text.
        value: String,
        /// The allowed range.
        reason: String,
    },
    /// A saved detector that cannot be loaded or written.
    #[error("detector file {path}: {reason}")]
    DetectorFile {
        /// The file.
        path: PathBuf,
        /// Why it was rejected.
        reason: String,
    },
    /// Backbone weights that are neither in the weights folder nor anywhere else they are
    /// looked for (see [`WeightsStore`](crate::WeightsStore)).
    #[error("{path}: {reason}")]
    WeightsNotFound {
        /// Where they were expected.
        path: PathBuf,
        /// Where else they were looked for, and how to provide them.
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
    /// The feature cache cannot be created, read or written.
    #[error("feature cache {path}: {reason}")]
    Cache {
        /// The cache folder or entry.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Reading a tensor back from its device failed.
    #[error("reading {what} from the device failed: {reason}")]
    Readback {
        /// Which tensor.
        what: &'static str,
        /// burn's message.
        reason: String,
    },
    /// The caller's [`Observer::interrupted`](crate::Observer::interrupted) asked to stop.
    #[error("interrupted during {stage}")]
    Interrupted {
        /// The stage that was running.
        stage: crate::Stage,
    },
    /// A backend that this build lacks, or whose device cannot start.
    #[error("backend '{name}': {reason}")]
    Backend {
        /// The backend's name.
        name: String,
        /// Why it cannot be used.
        reason: String,
    },
}

impl WscxrError {
    /// The name of the parameter at fault when this is an out-of-range value, from any stage (for
    /// mapping a rejected configuration back to a flag or a field).
    pub fn invalid_parameter(&self) -> Option<&'static str> {
        match self {
            WscxrError::InvalidParameter { name, .. }
            | WscxrError::Bank(BankError::InvalidParameter { name, .. })
            | WscxrError::Detector(DetectorError::InvalidParameter { name, .. })
            | WscxrError::Detector(DetectorError::Bank(BankError::InvalidParameter {
                name, ..
            })) => Some(name),
            WscxrError::Backbone(BackboneError::InvalidParameter { name, .. })
            | WscxrError::Backbone(BackboneError::Image(ImageError::InvalidParameter {
                name,
                ..
            })) => Some(name),
            WscxrError::Backbone(BackboneError::UnknownTap { .. }) => Some("layers"),
            _ => None,
        }
    }

    pub(crate) fn invalid(
        name: &'static str,
        value: impl ToString,
        reason: impl Into<String>,
    ) -> Self {
        WscxrError::InvalidParameter {
            name,
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

/// Image input errors reach callers the way they always did, through the backbone that reads the
/// images: one place to match them, whichever crate raised them.
impl From<ImageError> for WscxrError {
    fn from(error: ImageError) -> Self {
        WscxrError::Backbone(BackboneError::Image(error))
    }
}
