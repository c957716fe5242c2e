//! The weights this project knows by name, as every model library keeps them (torchvision,
//! timm, candle's hub): where each file is published, and the size and SHA-256 it must have, so
//! that a changed or tampered file is refused rather than loaded.

use crate::WscxrError;

/// The environment variable naming a mirror of the published weights: a base URL under which
/// each known file lies by its file name (`$WSCXR_WEIGHTS_URL/xception_b13_f16.bpk`).
pub const WEIGHTS_URL_VAR: &str = "WSCXR_WEIGHTS_URL";

/// Where the project's release files are published; a known file lies at this URL followed by
/// its file name.
pub const RELEASE_URL: &str = "https://github.com/wscxr/wscxr/releases/download/weights-v1";

/// Weights known by name: where they are published and what they must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownWeights {
    /// The name users pick them by, stable across releases.
    pub name: &'static str,
    /// The file's name, in the checkout's `assets/` and under the release URL.
    pub file_name: &'static str,
    /// SHA-256 of the file, lower-case hex: its identity in the weights store.
    pub sha256: &'static str,
    /// The file's exact size in bytes, so that a wrong file is refused before it is read whole.
    pub size: u64,
    /// The licence the weights are published under.
    pub licence: &'static str,
}

impl KnownWeights {
    /// The URL they are fetched from: under `$WSCXR_WEIGHTS_URL` when it is set, else under
    /// [`RELEASE_URL`].
    pub fn url(&self) -> String {
        let base = std::env::var(WEIGHTS_URL_VAR)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| RELEASE_URL.to_string());
        format!("{}/{}", base.trim_end_matches('/'), self.file_name)
    }

    /// The weights of `name` among [`KNOWN_WEIGHTS`].
    pub fn named(name: &str) -> Result<&'static KnownWeights, WscxrError> {
        KNOWN_WEIGHTS
            .iter()
            .find(|w| w.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = KNOWN_WEIGHTS.iter().map(|w| w.name).collect();
                WscxrError::invalid(
                    "weights name",
                    name,
                    format!("known weights: {}", known.join(", ")),
                )
            })
    }
}

/// The bundled ImageNet Xception weights (Keras Applications), truncated after block 13 and
/// stored in half precision as a burn record: what the default configuration loads.
pub const BUNDLED_XCEPTION_WEIGHTS: KnownWeights = KnownWeights {
    name: "xception-imagenet-b13-f16",
    file_name: "xception_b13_f16.bpk",
    sha256: "08ec64ff41c7d0b88ca3344f80b970c29a03db173e736a74e0d87208f02b434d",
    size: 32_449_536,
    licence: "MIT (Keras Applications)",
};

/// Every weights file this project knows.
pub const KNOWN_WEIGHTS: &[KnownWeights] = &[BUNDLED_XCEPTION_WEIGHTS];

#[cfg(test)]
mod tests {
    use super::*;

    /// The registry describes the file that ships in the checkout, byte for byte.
    #[test]
    fn the_bundled_entry_is_the_bundled_file() {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("assets")
            .join(BUNDLED_XCEPTION_WEIGHTS.file_name);
        assert_eq!(
            std::fs::metadata(&file).unwrap().len(),
            BUNDLED_XCEPTION_WEIGHTS.size
        );
        assert_eq!(
            crate::fsutil::file_sha256(&file).unwrap(),
            BUNDLED_XCEPTION_WEIGHTS.sha256
        );
        assert_eq!(
            crate::BUNDLED_XCEPTION_SHA256,
            BUNDLED_XCEPTION_WEIGHTS.sha256
        );
        assert!(KnownWeights::named("nonexistent").is_err());
    }
}
