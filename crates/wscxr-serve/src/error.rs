use std::net::SocketAddr;
use std::path::PathBuf;

use wscxr::WscxrError;
use wscxr::input::ImageError;

/// Why the service cannot start or stopped: each names the setting, file or address at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The detector could not be loaded or warmed up.
    #[error(transparent)]
    Wscxr(#[from] WscxrError),
    /// Loading or warming up the detector panicked (a bug): the service stops with this.
    #[error("loading the detector panicked: {0}")]
    LoadPanicked(String),
    /// The warm-up image could not be made.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// A setting out of its range.
    #[error("invalid {name} = {value}: {reason}")]
    Config {
        /// The setting, as [`ServeConfig`](crate::ServeConfig) names it.
        name: &'static str,
        /// Its value.
        value: String,
        /// The allowed range.
        reason: &'static str,
    },
    /// The token file cannot be used.
    #[error("token file {path}: {reason}")]
    Token {
        /// The file.
        path: PathBuf,
        /// What is wrong with it (never its content).
        reason: String,
    },
    /// The address cannot be listened on.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The system's error.
        source: std::io::Error,
    },
    /// The runtime could not start, or a socket failed.
    #[error("{what}: {source}")]
    Io {
        /// What failed.
        what: &'static str,
        /// The system's error.
        source: std::io::Error,
    },
}
