use std::path::PathBuf;

/// Everything that can go wrong while building a backbone, importing its weights or extracting
/// features from X-rays.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackboneError {
    /// A weights or record file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An X-ray could not be read or preprocessed (see [`wscxr_image::ImageError`]).
    #[error(transparent)]
    Image(#[from] wscxr_image::ImageError),
    /// A weights file could not be parsed at all.
    #[error("cannot parse weights file {path}: {reason}")]
    WeightsFormat {
        /// The weights file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// The weights file holds a different network, or was exported in a form this crate does not read.
    #[error("{path} does not hold {network} weights: {reason}")]
    WrongNetwork {
        /// The weights file.
        path: PathBuf,
        /// The network that was expected.
        network: String,
        /// Why the file was rejected, with a hint on how to export a loadable file.
        reason: String,
    },
    /// A tensor the network needs is not in the weights file.
    #[error("{path}: tensor '{tensor}' of shape {expected:?} is missing")]
    MissingTensor {
        /// The weights file.
        path: PathBuf,
        /// The tensor's name in the file's naming scheme.
        tensor: String,
        /// The shape the network expects.
        expected: Vec<usize>,
    },
    /// The weights file holds a tensor the network has no place for.
    #[error("{path}: unexpected tensor '{tensor}' of shape {shape:?}")]
    UnexpectedTensor {
        /// The weights file.
        path: PathBuf,
        /// The tensor's name in the file.
        tensor: String,
        /// Its shape.
        shape: Vec<usize>,
    },
    /// A tensor exists but has the wrong shape.
    #[error("{path}: tensor '{tensor}' has shape {found:?}, the network expects {expected:?}")]
    ShapeMismatch {
        /// The weights file.
        path: PathBuf,
        /// The tensor's name in the file.
        tensor: String,
        /// The shape the network expects.
        expected: Vec<usize>,
        /// The shape found in the file.
        found: Vec<usize>,
    },
    /// A tensor holds NaN or infinite values.
    #[error("{path}: tensor '{tensor}' holds non-finite values")]
    NonFinite {
        /// The weights file.
        path: PathBuf,
        /// The tensor's name in the file.
        tensor: String,
    },
    /// A feature tap that the network does not have.
    #[error("unknown feature tap '{tap}' for {network}; available: {available}")]
    UnknownTap {
        /// The requested tap.
        tap: String,
        /// The network.
        network: String,
        /// The taps it has, comma-separated.
        available: String,
    },
    /// An argument out of range (image size, batch size, empty tap list, ...).
    #[error("invalid {name} = {value}: {reason}")]
    InvalidParameter {
        /// The parameter.
        name: &'static str,
        /// Its value, as text.
        value: String,
        /// The allowed range.
        reason: &'static str,
    },
    /// Reading a tensor back from its device failed.
    #[error("reading {what} from the device failed: {reason}")]
    Readback {
        /// Which tensor.
        what: String,
        /// burn's message.
        reason: String,
    },
    /// A layer shape the host inference path has no kernel for.
    #[error("host path: {0}")]
    Unsupported(String),
    /// The caller's progress callback stopped extraction between batches.
    #[error("interrupted after {done} of {total} images")]
    Interrupted {
        /// Images extracted before the stop.
        done: usize,
        /// Images asked for.
        total: usize,
    },
    /// Writing or reading a burn record failed.
    #[error("burn record {path}: {reason}")]
    Record {
        /// The record file.
        path: PathBuf,
        /// What burn-store reported.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_errors_pass_through_unchanged() {
        let image = wscxr_image::Radiograph::gray8("upload 7", 3, 2, vec![0; 5]).unwrap_err();
        let text = image.to_string();
        let error = BackboneError::from(image);
        assert_eq!(error.to_string(), text);
        assert!(matches!(
            error,
            BackboneError::Image(wscxr_image::ImageError::Decoded { .. })
        ));
    }
}
