//! The frozen backbone of a fit, loaded from its weights file and known by that file's hash, and
//! the folder where weights are kept by hash so that a detector file finds them on any machine.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use wscxr_backbone::{Backbone, Network, Xray};
use wscxr_bank::PatchFeatures;

use crate::cache::{FeatureCache, extract_features};
use crate::config::WscxrConfig;
use crate::data::file_sha256;
use crate::{BUNDLED_XCEPTION, WscxrError};

/// SHA-256 of the bundled Xception record, [`BUNDLED_XCEPTION`].
pub const BUNDLED_XCEPTION_SHA256: &str =
    "08ec64ff41c7d0b88ca3344f80b970c29a03db173e736a74e0d87208f02b434d";

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
        let stored = self.dir.join(format!("{sha256}.{format}"));
        let store_error = |e: std::io::Error| WscxrError::Data {
            path: self.dir.clone(),
            reason: format!("cannot store weights: {e}"),
        };
        std::fs::create_dir_all(&self.dir).map_err(store_error)?;
        crate::persist::write_atomically(&stored, bytes, true).map_err(store_error)?;
        Ok(stored)
    }

    /// The bundled Xception record: from the store, or else copied into it from `assets/` of the
    /// current folder (a wscxr checkout), the first time.
    pub fn bundled_xception(&self) -> Result<PathBuf, WscxrError> {
        if let Some(path) = self.find(BUNDLED_XCEPTION_SHA256)? {
            return Ok(path);
        }
        let source = Path::new(BUNDLED_XCEPTION);
        if source.is_file() && file_sha256(source)? == BUNDLED_XCEPTION_SHA256 {
            return self.add(source);
        }
        Err(WscxrError::Data {
            path: self.dir.join(format!("{BUNDLED_XCEPTION_SHA256}.bpk")),
            reason: format!(
                "the bundled Xception weights are neither in the weights folder nor at \
                 ./{BUNDLED_XCEPTION}: run once from a wscxr checkout, or copy that file here \
                 (folder: ${WEIGHTS_DIR_VAR}, else the user cache folder)"
            ),
        })
    }
}

fn is_onnx(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
}

/// How a weights file is read, by its extension: `onnx`, else `bpk` (a burn record).
fn weights_format(path: &Path) -> &'static str {
    if is_onnx(path) { "onnx" } else { "bpk" }
}

/// A backbone together with the SHA-256 of the weights it was loaded from: the identity that ties
/// cached features and saved detectors to exactly those weights.
#[derive(Debug, Clone)]
pub struct LoadedBackbone {
    backbone: Backbone,
    weights_sha256: String,
    path: PathBuf,
}

impl LoadedBackbone {
    /// Loads the configured backbone: `config.weights` (ONNX by its extension, else a burn
    /// record), or the bundled Xception record from the [`WeightsStore`] of the environment when
    /// none is given.
    pub fn load(config: &WscxrConfig, device: &Device) -> Result<Self, WscxrError> {
        let (path, sha256) = match &config.weights {
            Some(path) => (path.clone(), file_sha256(path)?),
            None if config.backbone == Network::Xception => (
                WeightsStore::from_env()?.bundled_xception()?,
                BUNDLED_XCEPTION_SHA256.to_string(),
            ),
            None => {
                return Err(WscxrError::invalid(
                    "weights",
                    "none",
                    format!(
                        "only Xception's weights are bundled, not {}'s",
                        config.backbone
                    ),
                ));
            }
        };
        Self::load_file(config, &path, sha256, device)
    }

    /// Loads the backbone whose weights hash to `sha256`: the configured file if it still has
    /// that hash, else the file of that hash in `store` (or the bundled record, when that is the
    /// one asked for). What a saved detector does, so that it loads on another machine.
    pub fn load_by_hash(
        config: &WscxrConfig,
        sha256: &str,
        store: &WeightsStore,
        device: &Device,
    ) -> Result<Self, WscxrError> {
        if let Some(path) = &config.weights
            && path.is_file()
            && file_sha256(path)? == sha256
        {
            return Self::load_file(config, path, sha256.to_string(), device);
        }
        let path = match store.find(sha256)? {
            Some(path) => path,
            None if sha256 == BUNDLED_XCEPTION_SHA256 => store.bundled_xception()?,
            None => {
                return Err(WscxrError::Data {
                    path: store.dir().join(format!("{sha256}.bpk")),
                    reason: format!(
                        "no {} weights with SHA-256 {sha256} here{}",
                        config.backbone,
                        match &config.weights {
                            Some(p) => format!(" nor at {}", p.display()),
                            None => String::new(),
                        }
                    ),
                });
            }
        };
        Self::load_file(config, &path, sha256.to_string(), device)
    }

    /// Loads `path`, whose contents the caller has already hashed to `weights_sha256` (hashing
    /// tens of megabytes twice on every load is wasted work).
    fn load_file(
        config: &WscxrConfig,
        path: &Path,
        weights_sha256: String,
        device: &Device,
    ) -> Result<Self, WscxrError> {
        let backbone = if is_onnx(path) {
            Backbone::from_onnx(config.backbone, path, device)?
        } else {
            Backbone::from_record(config.backbone, path, device)?
        };
        Ok(Self {
            backbone,
            weights_sha256,
            path: path.to_path_buf(),
        })
    }

    /// The weights file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `onnx` or `bpk` (a burn record): how its weights file is read.
    pub(crate) fn format(&self) -> &'static str {
        weights_format(&self.path)
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

    /// Patch features of X-rays under `config` (through `cache` when given);
    /// `progress(done, total)` counts images.
    pub fn patch_features(
        &self,
        paths: &[Xray],
        config: &WscxrConfig,
        cache: Option<&FeatureCache>,
        progress: impl FnMut(usize, usize),
    ) -> Result<PatchFeatures, WscxrError> {
        let maps = extract_features(
            &self.backbone,
            &self.identity(),
            paths,
            &config.extract_options(),
            cache,
            progress,
        )?;
        Ok(wscxr_bank::patch_features(&maps, &config.patch)?)
    }
}
