//! The frozen backbone of a fit, loaded from its weights file and known by that file's hash, and
//! the folder where weights are kept by hash so that a detector file finds them on any machine.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::prelude::*;
use wscxr_backbone::{Backbone, Network};

use crate::config::WscxrConfig;
use crate::fsutil::{file_sha256, sha256_hex, write_atomically};
use crate::registry::BUNDLED_XCEPTION_WEIGHTS;
#[cfg(feature = "download")]
use crate::registry::KnownWeights;
use crate::{BUNDLED_XCEPTION, WscxrError};

/// SHA-256 of the bundled Xception record, [`BUNDLED_XCEPTION`].
pub const BUNDLED_XCEPTION_SHA256: &str = BUNDLED_XCEPTION_WEIGHTS.sha256;

/// The environment variable naming the weights folder (see [`WeightsStore::from_env`]).
pub const WEIGHTS_DIR_VAR: &str = "WSCXR_WEIGHTS_DIR";

/// A folder of backbone weights files named by their SHA-256 (`<sha256>.bpk`, `<sha256>.onnx`), so
/// that a detector, which records the hash of its weights, finds them wherever it is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightsStore {
    dir: PathBuf,
}

impl WeightsStore {
    /// A store in `dir` (created when a file is added).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// `$WSCXR_WEIGHTS_DIR`, else the user's cache folder: `$XDG_CACHE_HOME/wscxr/weights`, or
    /// `$HOME/.cache/wscxr/weights`.
    pub fn from_env() -> Result<Self, WscxrError> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        if let Some(dir) = var(WEIGHTS_DIR_VAR) {
            return Ok(Self::new(dir));
        }
        let cache = var("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| var("HOME").map(|home| Path::new(&home).join(".cache")))
            .ok_or_else(|| {
                WscxrError::invalid(
                    "weights folder",
                    "unset",
                    format!("set {WEIGHTS_DIR_VAR} (neither XDG_CACHE_HOME nor HOME is set)"),
                )
            })?;
        Ok(Self::new(cache.join("wscxr").join("weights")))
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The stored file whose contents hash to `sha256`, if there is one.
    pub fn find(&self, sha256: &str) -> Result<Option<PathBuf>, WscxrError> {
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(WscxrError::invalid(
                "weights SHA-256",
                sha256,
                "must be 64 hexadecimal digits",
            ));
        }
        for extension in ["bpk", "onnx"] {
            let path = self.dir.join(format!("{sha256}.{extension}"));
            if path.is_file() && file_sha256(&path)? == sha256 {
                return Ok(Some(path));
            }
        }
        Ok(None)
    }

    /// Copies the weights file `path` into the store under its hash (written to a temporary file
    /// and renamed, so that a reader never sees half a file); returns the stored path.
    pub fn add(&self, path: &Path) -> Result<PathBuf, WscxrError> {
        // Hashed first: this refuses anything but a regular file before it is read whole.
        let sha256 = file_sha256(path)?;
        if let Some(stored) = self.find(&sha256)? {
            return Ok(stored);
        }
        let bytes = std::fs::read(path).map_err(|e| WscxrError::Data {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        self.write(&sha256, weights_format(path), &bytes)
    }

    /// Stores weights received as bytes (embedded in a detector file) under `sha256`, which the
    /// caller has checked they hash to; `format` is `bpk` or `onnx`. Returns the stored path.
    pub(crate) fn add_bytes(
        &self,
        sha256: &str,
        format: &str,
        bytes: &[u8],
    ) -> Result<PathBuf, WscxrError> {
        if let Some(stored) = self.find(sha256)? {
            return Ok(stored);
        }
        self.write(sha256, format, bytes)
    }

    /// Writes `<sha256>.<format>` atomically into the folder.
    fn write(&self, sha256: &str, format: &str, bytes: &[u8]) -> Result<PathBuf, WscxrError> {
        let stored = self.prepare(sha256, format)?;
        write_atomically(&stored, bytes, true).map_err(|e| self.store_error(e))?;
        Ok(stored)
    }

    /// Creates the folder and names the file `<sha256>.<format>` in it.
    fn prepare(&self, sha256: &str, format: &str) -> Result<PathBuf, WscxrError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| self.store_error(e))?;
        Ok(self.dir.join(format!("{sha256}.{format}")))
    }

    fn store_error(&self, e: std::io::Error) -> WscxrError {
        WscxrError::Data {
            path: self.dir.clone(),
            reason: format!("cannot store weights: {e}"),
        }
    }

    /// The bundled Xception record, resolved in order: the store; `assets/` of the current
    /// folder (a wscxr checkout), copied into the store the first time; a download into the
    /// store (feature `download`).
    pub fn bundled_xception(&self) -> Result<PathBuf, WscxrError> {
        if let Some(path) = self.find(BUNDLED_XCEPTION_SHA256)? {
            return Ok(path);
        }
        let source = Path::new(BUNDLED_XCEPTION);
        if source.is_file() && file_sha256(source)? == BUNDLED_XCEPTION_SHA256 {
            return self.add(source);
        }
        #[cfg(feature = "download")]
        return self.fetch(&BUNDLED_XCEPTION_WEIGHTS);
        #[cfg(not(feature = "download"))]
        Err(WscxrError::WeightsNotFound {
            path: self.dir.join(format!("{BUNDLED_XCEPTION_SHA256}.bpk")),
            reason: format!(
                "the bundled Xception weights are neither in the weights folder nor at \
                 ./{BUNDLED_XCEPTION}: run once from a wscxr checkout, copy that file here \
                 (folder: ${WEIGHTS_DIR_VAR}, else the user cache folder), or build with the \
                 `download` feature to fetch it from {}",
                BUNDLED_XCEPTION_WEIGHTS.url()
            ),
        })
    }

    /// Known weights in the store: found by hash, or else downloaded from their URL
    /// ([`KnownWeights::url`]: the release, or the mirror `$WSCXR_WEIGHTS_URL`) into the store.
    #[cfg(feature = "download")]
    pub fn fetch(&self, weights: &KnownWeights) -> Result<PathBuf, WscxrError> {
        self.fetch_from(weights, &weights.url())
    }

    /// Known weights in the store: found by hash, or else downloaded from `url` into the store
    /// and verified (exact size and SHA-256) before they are given their name there. Nothing is
    /// downloaded when the store holds them already, and a failed download leaves nothing
    /// behind.
    #[cfg(feature = "download")]
    pub fn fetch_from(&self, weights: &KnownWeights, url: &str) -> Result<PathBuf, WscxrError> {
        if let Some(path) = self.find(weights.sha256)? {
            return Ok(path);
        }
        let format = weights_format(Path::new(weights.file_name));
        let stored = self.prepare(weights.sha256, format)?;
        crate::download::download(url, weights.sha256, weights.size, &stored, DOWNLOAD_TIMEOUT)?;
        Ok(stored)
    }
}

/// The longest a weights download may take: 32 MB at a slow 300 kB/s.
#[cfg(feature = "download")]
const DOWNLOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

fn is_onnx(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
}

/// How a weights file is read, by its extension: `onnx`, else `bpk` (a burn record).
fn weights_format(path: &Path) -> &'static str {
    if is_onnx(path) { "onnx" } else { "bpk" }
}

/// A weights file's bytes: a regular file of at most [`MAX_WEIGHTS_BYTES`], read once.
fn read_weights_file(path: &Path) -> Result<Vec<u8>, WscxrError> {
    let error = |reason: String| WscxrError::Data {
        path: path.to_path_buf(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| error(e.to_string()))?;
    let metadata = file.metadata().map_err(|e| error(e.to_string()))?;
    if !metadata.is_file() {
        return Err(error("not a regular file".into()));
    }
    if metadata.len() > MAX_WEIGHTS_BYTES {
        return Err(error(format!(
            "{} bytes: weights files are at most {MAX_WEIGHTS_BYTES}",
            metadata.len()
        )));
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    // Bounded again while reading: the file may grow after its size was read.
    file.take(MAX_WEIGHTS_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| error(e.to_string()))?;
    if bytes.len() as u64 > MAX_WEIGHTS_BYTES {
        return Err(error(
            "grew past the weights size limit while being read".into(),
        ));
    }
    Ok(bytes)
}

/// Hashes `bytes`, checks them against `expected`, and parses them as `format` weights of the
/// configured network.
fn parse_weights(
    config: &WscxrConfig,
    label: &Path,
    format: &str,
    bytes: &[u8],
    expected: Option<&str>,
    device: &Device,
) -> Result<(Backbone, String), WscxrError> {
    let sha256 = sha256_hex(bytes);
    if let Some(expected) = expected
        && sha256 != expected
    {
        return Err(WscxrError::Data {
            path: label.to_path_buf(),
            reason: format!(
                "hashes to {sha256}, not the {expected} asked for: the weights changed or are \
                 damaged"
            ),
        });
    }
    let backbone = if format == "onnx" {
        Backbone::from_onnx_bytes(config.backbone, label, bytes, device)?
    } else {
        Backbone::from_record_bytes(config.backbone, label, bytes.to_vec(), device)?
    };
    Ok((backbone, sha256))
}

/// The largest weights file read (the DenseNet-121 ONNX file is 32 MB).
pub const MAX_WEIGHTS_BYTES: u64 = 1 << 30;

/// Where a backbone's weights came from.
#[derive(Debug, Clone)]
enum WeightsSource {
    /// A weights file.
    File(PathBuf),
    /// Bytes embedded in a detector file, kept so that the detector can be saved with them or
    /// its weights stored on request.
    Memory {
        format: &'static str,
        bytes: Arc<Vec<u8>>,
    },
}

/// A backbone together with the SHA-256 of the weights it was loaded from: the identity that ties
/// cached features and saved detectors to exactly those weights. The weights are read once, and
/// the hash is of the bytes that were parsed.
#[derive(Debug, Clone)]
pub struct LoadedBackbone {
    backbone: Backbone,
    weights_sha256: String,
    source: WeightsSource,
}

impl LoadedBackbone {
    /// Loads the configured backbone: `config.weights` (ONNX by its extension, else a burn
    /// record), or the bundled Xception record from the [`WeightsStore`] of the environment when
    /// none is given.
    pub fn load(config: &WscxrConfig, device: &Device) -> Result<Self, WscxrError> {
        match &config.weights {
            Some(path) => Self::load_file(config, path, None, device),
            None if config.backbone == Network::Xception => {
                let path = WeightsStore::from_env()?.bundled_xception()?;
                Self::load_file(config, &path, Some(BUNDLED_XCEPTION_SHA256), device)
            }
            None => Err(WscxrError::invalid(
                "weights",
                "none",
                format!(
                    "only Xception's weights are bundled, not {}'s",
                    config.backbone
                ),
            )),
        }
    }

    /// Loads the backbone whose weights hash to `sha256` from `store` (or the bundled record,
    /// when that is the one asked for). What a saved detector does: it names its weights by hash
    /// only, never by a path its file could point anywhere. The bytes parsed are the bytes
    /// hashed: a file that changed is an error naming it.
    pub fn load_by_hash(
        config: &WscxrConfig,
        sha256: &str,
        store: &WeightsStore,
        device: &Device,
    ) -> Result<Self, WscxrError> {
        let path = match store.find(sha256)? {
            Some(path) => path,
            None if sha256 == BUNDLED_XCEPTION_SHA256 => store.bundled_xception()?,
            None => {
                return Err(WscxrError::WeightsNotFound {
                    path: store.dir().join(format!("{sha256}.bpk")),
                    reason: format!(
                        "no {} weights with SHA-256 {sha256} here: add them with \
                         `WeightsStore::add` (the detector names its weights by hash only)",
                        config.backbone
                    ),
                });
            }
        };
        Self::load_file(config, &path, Some(sha256), device)
    }

    /// Loads weights held in memory (a self-contained detector's): `format` is `onnx` or `bpk`,
    /// and the bytes must hash to `sha256`. Nothing is written anywhere.
    pub(crate) fn from_memory(
        config: &WscxrConfig,
        label: &Path,
        format: &str,
        bytes: Vec<u8>,
        sha256: &str,
        device: &Device,
    ) -> Result<Self, WscxrError> {
        let format = match format {
            "onnx" => "onnx",
            "bpk" => "bpk",
            other => {
                return Err(WscxrError::invalid(
                    "weights format",
                    other,
                    "must be onnx or bpk",
                ));
            }
        };
        let bytes = Arc::new(bytes);
        let (backbone, weights_sha256) =
            parse_weights(config, label, format, &bytes, Some(sha256), device)?;
        Ok(Self {
            backbone,
            weights_sha256,
            source: WeightsSource::Memory { format, bytes },
        })
    }

    /// Reads `path` once (a regular file of at most [`MAX_WEIGHTS_BYTES`]), hashes the bytes,
    /// checks them against `expected` when given, and parses the same bytes.
    fn load_file(
        config: &WscxrConfig,
        path: &Path,
        expected: Option<&str>,
        device: &Device,
    ) -> Result<Self, WscxrError> {
        let bytes = read_weights_file(path)?;
        let (backbone, weights_sha256) =
            parse_weights(config, path, weights_format(path), &bytes, expected, device)?;
        Ok(Self {
            backbone,
            weights_sha256,
            source: WeightsSource::File(path.to_path_buf()),
        })
    }

    /// The weights file it was loaded from; `None` when its weights came embedded in a detector
    /// file.
    pub fn path(&self) -> Option<&Path> {
        match &self.source {
            WeightsSource::File(path) => Some(path),
            WeightsSource::Memory { .. } => None,
        }
    }

    /// `onnx` or `bpk` (a burn record), and the weights' bytes: read again from the file, or
    /// the embedded ones. The caller checks the hash of what it gets.
    pub(crate) fn weights_bytes(&self) -> Result<(&'static str, Arc<Vec<u8>>), WscxrError> {
        match &self.source {
            WeightsSource::File(path) => {
                Ok((weights_format(path), Arc::new(read_weights_file(path)?)))
            }
            WeightsSource::Memory { format, bytes } => Ok((format, bytes.clone())),
        }
    }

    /// The network and its weights.
    pub fn backbone(&self) -> &Backbone {
        &self.backbone
    }

    /// SHA-256 of the weights file, lower-case hex.
    pub fn weights_sha256(&self) -> &str {
        &self.weights_sha256
    }

    /// `network:sha256`, the key that features and detectors are tied to.
    pub fn identity(&self) -> String {
        format!("{}:{}", self.backbone.network(), self.weights_sha256)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash checked is the hash of the bytes handed to the parser: bytes that do not hash to
    /// what was asked for are refused before parsing, naming the file; bytes that do are parsed
    /// (and these, not weights, fail there).
    #[test]
    fn weights_are_hashed_from_the_bytes_that_are_parsed() {
        let config = WscxrConfig::default();
        let device = Device::flex();
        let label = Path::new("swapped.bpk");
        let junk = b"not a burn record";
        let wrong = "0".repeat(64);
        let error = parse_weights(&config, label, "bpk", junk, Some(&wrong), &device)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("swapped.bpk") && error.contains(&sha256_hex(junk)),
            "{error}"
        );
        let right = sha256_hex(junk);
        let error = parse_weights(&config, label, "bpk", junk, Some(&right), &device)
            .unwrap_err()
            .to_string();
        assert!(!error.contains("hashes to"), "{error}");
    }

    #[test]
    fn weights_files_are_regular_and_bounded() {
        let dir = std::env::temp_dir();
        assert!(read_weights_file(&dir).is_err(), "a folder");
        assert!(
            read_weights_file(Path::new("/dev/zero")).is_err(),
            "a device never ends"
        );
    }
}
