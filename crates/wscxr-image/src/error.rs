use std::path::PathBuf;

/// Everything that can go wrong while reading an X-ray or preparing it as network input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// A file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An image file could not be decoded (corrupt, truncated or of an unsupported format).
    #[error("cannot decode image {path}: {source}")]
    Image {
        /// The image file.
        path: PathBuf,
        /// The decoder's error.
        source: image::ImageError,
    },
    /// A DICOM file that cannot be read as one grayscale X-ray (no pixel data, several frames,
    /// an unsupported transfer syntax or photometric interpretation, damaged), or any DICOM file
    /// when this crate was built without its `dicom` feature.
    #[error("cannot read DICOM file {path}: {reason}")]
    Dicom {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Bytes that are no image read here: neither DICOM, PNG nor JPEG by their content.
    #[error("{name} is not an image read here: {reason}")]
    Unrecognised {
        /// The file, or the name given with the bytes.
        name: String,
        /// What the bytes are not.
        reason: String,
    },
    /// Pixels handed over in memory that do not make an image.
    #[error("image '{name}': {reason}")]
    Decoded {
        /// The name given with the pixels.
        name: String,
        /// What is wrong with them.
        reason: String,
    },
    /// An argument out of range (an image size of 0).
    #[error("invalid {name} = {value}: {reason}")]
    InvalidParameter {
        /// The parameter.
        name: &'static str,
        /// Its value, as text.
        value: String,
        /// The allowed range.
        reason: &'static str,
    },
}
