//! One file per trained detector: a versioned header (configuration, backbone identity, sizes),
//! the scorer's weights, and a checksum over both.
//!
//! Layout: `WSCXRDET` | format version (u32 LE) | header length (u64 LE) | header JSON | payload |
//! embedded weights (optional) | SHA-256 of every byte before it. The payload is the
//! discriminator as a burnpack record, or (K = 0) the normal bank's rows as little-endian f32. The
//! backbone weights are referred to by SHA-256, or, in a self-contained file
//! ([`Detector::save_with_weights`]), stored whole after the payload.
//!
//! A file is untrusted input. Loading reads at most the file's own size (regular files only), and
//! only after the prefix says how it splits; the header is limited to [`MAX_HEADER`] bytes; the
//! checksum is verified before the header is parsed; every size in the header is bounded and
//! multiplied with checked arithmetic, and must account for the payload's length exactly (bank)
//! or within the record format's overhead (discriminator), before anything is allocated from it.

use std::io::Read;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::store::{BurnpackStore, ModuleSnapshot};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wscxr_bank::NormalBank;

use crate::WscxrError;
use crate::calibration::{Calibration, ColourScale};
use crate::config::WscxrConfig;
use crate::fitted_detector::{Detector, FitReport, Scorer};
use crate::fsutil::{sha256_hex, write_atomically};
use crate::weights::{LoadedBackbone, WeightsStore};

const MAGIC: &[u8; 8] = b"WSCXRDET";
/// The detector file format this build writes and reads.
pub const FORMAT_VERSION: u32 = 3;
/// Magic, version, header length.
const PREFIX_LEN: u64 = 8 + 4 + 8;
const CHECKSUM_LEN: u64 = 32;
/// The largest header accepted; a real one is under 2 KiB.
const MAX_HEADER: u64 = 1 << 20;
/// The widest feature or hidden layer accepted (the backbones' taps are at most 2,736 wide
/// together).
const MAX_WIDTH: usize = 1 << 16;
/// What a burnpack record may add to its tensors' bytes (names, shapes, alignment).
const MAX_RECORD_OVERHEAD: u64 = 1 << 20;
/// The largest embedded weights file accepted (the DenseNet-121 ONNX file is 32 MB).
const MAX_EMBEDDED_WEIGHTS: u64 = crate::weights::MAX_WEIGHTS_BYTES;
/// The largest payload accepted: a normal bank of a million 1,024-wide rows.
const MAX_PAYLOAD: u64 = 1 << 32;

/// Weights stored in the detector file itself.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmbeddedWeights {
    /// `bpk` (a burn record) or `onnx`.
    format: String,
    /// Bytes, right after the payload.
    len: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    config: WscxrConfig,
    backbone: String,
    weights_sha256: String,
    dim: usize,
    scorer: String,
    bank_rows: usize,
    payload_len: u64,
    calibration: Option<Calibration>,
    colour_scale: ColourScale,
    embedded_weights: Option<EmbeddedWeights>,
}

impl Detector {
    /// Writes the detector to one file, atomically: a temporary file beside it is written,
    /// flushed to disk and renamed over `path`, so a crash leaves the old file or the new one.
    /// The backbone weights are referred to by their SHA-256 (see [`Detector::load`]).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), WscxrError> {
        self.write(path.as_ref(), false)?;
        // A loaded detector finds its weights by hash in the weights store only: keep a weights
        // file it was fitted from there. Best effort: the file just written is complete either
        // way, and a load without the weights says which hash is missing.
        if self.backbone.path().is_some()
            && let Ok(store) = WeightsStore::from_env()
        {
            let _ = self.store_weights(&store);
        }
        Ok(())
    }

    /// [`Detector::save`], with the backbone weights stored in the file too (tens of megabytes),
    /// so that it loads on a machine that has never seen them.
    pub fn save_with_weights(&self, path: impl AsRef<Path>) -> Result<(), WscxrError> {
        self.write(path.as_ref(), true)
    }

    /// Puts this detector's backbone weights into `store` under their SHA-256 (what a
    /// self-contained detector file needs to be loaded later without its embedded copy); returns
    /// the stored file. Loading never does this by itself.
    pub fn store_weights(&self, store: &WeightsStore) -> Result<PathBuf, WscxrError> {
        let sha256 = self.backbone.weights_sha256();
        // Every `save` lands here: when the store has them, the weights are not read again.
        if let Some(stored) = store.find(sha256)? {
            return Ok(stored);
        }
        let (format, bytes) = self.backbone.weights_bytes()?;
        if sha256_hex(&bytes) != sha256 {
            return Err(WscxrError::invalid(
                "backbone weights",
                sha256,
                "changed since they were loaded: their SHA-256 differs",
            ));
        }
        store.add_bytes(sha256, format, &bytes)
    }

    fn write(&self, path: &Path, embed_weights: bool) -> Result<(), WscxrError> {
        let file_error = |reason: String| WscxrError::DetectorFile {
            path: path.to_path_buf(),
            reason,
        };
        let (scorer, bank_rows, payload) = match &self.scorer {
            Scorer::Discriminator(d) => {
                let mut store = BurnpackStore::from_bytes(None);
                d.save_into(&mut store)
                    .map_err(|e| file_error(e.to_string()))?;
                let bytes = store.get_bytes().map_err(|e| file_error(e.to_string()))?;
                ("discriminator", 0, bytes.to_vec())
            }
            Scorer::PatchCore(bank) => {
                let rows = bank
                    .rows()
                    .try_into_vec_as::<f32>()
                    .map_err(|e| file_error(format!("{e:?}")))?;
                let bytes = rows.iter().flat_map(|v| v.to_le_bytes()).collect();
                ("patchcore", bank.len(), bytes)
            }
        };
        let (embedded_weights, weights) = if embed_weights {
            let (format, bytes) = self.backbone.weights_bytes()?;
            if sha256_hex(&bytes) != self.backbone.weights_sha256() {
                return Err(file_error(
                    "its backbone weights changed since the detector was fitted: their SHA-256 \
                     differs"
                        .into(),
                ));
            }
            let embedded = EmbeddedWeights {
                format: format.into(),
                len: bytes.len() as u64,
            };
            (Some(embedded), bytes)
        } else {
            (None, Default::default())
        };
        let header = Header {
            config: self.config.clone(),
            backbone: self.config.backbone.name().to_string(),
            weights_sha256: self.backbone.weights_sha256().to_string(),
            dim: self.dim,
            scorer: scorer.into(),
            bank_rows,
            payload_len: payload.len() as u64,
            calibration: self.calibration.clone(),
            colour_scale: self.colour_scale,
            embedded_weights,
        };
        let header = serde_json::to_vec(&header).map_err(|e| file_error(e.to_string()))?;
        let mut bytes = Vec::with_capacity(
            PREFIX_LEN as usize
                + header.len()
                + payload.len()
                + weights.len()
                + CHECKSUM_LEN as usize,
        );
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&header);
        bytes.extend_from_slice(&payload);
        bytes.extend_from_slice(&weights);
        let checksum = Sha256::digest(&bytes);
        bytes.extend_from_slice(&checksum);
        write_atomically(path, &bytes, true).map_err(|e| file_error(e.to_string()))
    }

    /// Reads a detector written by [`Detector::save`] onto `device`. Its backbone weights are
    /// the ones embedded in the file, else found by their SHA-256 in the [`WeightsStore`] of the
    /// environment (`WSCXR_WEIGHTS_DIR`, or the user's cache), where saving put them; loading
    /// writes nothing.
    pub fn load(path: impl AsRef<Path>, device: &Device) -> Result<Self, WscxrError> {
        Self::load_with(path, &WeightsStore::from_env()?, device)
    }

    /// [`Detector::load`] with the weights looked up in `store`.
    pub fn load_with(
        path: impl AsRef<Path>,
        store: &WeightsStore,
        device: &Device,
    ) -> Result<Self, WscxrError> {
        let path = path.as_ref();
        let file_error = |reason: String| WscxrError::DetectorFile {
            path: path.to_path_buf(),
            reason,
        };
        let (header, payload, weights) = read_file(path).map_err(file_error)?;
        // Embedded weights are used from memory: loading writes nothing anywhere (see
        // `Detector::store_weights` to keep them).
        let backbone = match (&header.embedded_weights, weights) {
            (Some(embedded), Some(bytes)) => LoadedBackbone::from_memory(
                &header.config,
                path,
                &embedded.format,
                bytes,
                &header.weights_sha256,
                device,
            )
            .map_err(|e| file_error(format!("its embedded weights: {e}")))?,
            _ => {
                LoadedBackbone::load_by_hash(&header.config, &header.weights_sha256, store, device)?
            }
        };
        let weights_sha256 = backbone.weights_sha256();
        if weights_sha256 != header.weights_sha256 {
            return Err(file_error(format!(
                "fitted with {} weights of SHA-256 {}, but the weights file now hashes to {weights_sha256}",
                header.backbone, header.weights_sha256
            )));
        }
        let scorer = match header.scorer.as_str() {
            "discriminator" => {
                // Its parameter count was bounded by the payload's length in `check_header`.
                let mut d = header.config.discriminator.init(header.dim, 0, device);
                let mut store =
                    BurnpackStore::from_bytes(Some(burn::tensor::Bytes::from_bytes_vec(payload)));
                let result = d
                    .load_from(&mut store)
                    .map_err(|e| file_error(format!("discriminator weights: {e}")))?;
                if !result.errors.is_empty() || !result.unused.is_empty() {
                    return Err(file_error(format!("discriminator weights: {result}")));
                }
                Scorer::Discriminator(d)
            }
            "patchcore" => {
                // `check_header` made payload.len() == bank_rows * dim * 4.
                let rows: Vec<f32> = payload
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                if !rows.iter().all(|v| v.is_finite()) {
                    return Err(file_error(
                        "the normal bank holds NaN or infinite values".into(),
                    ));
                }
                let rows = Tensor::<2>::from_data(
                    TensorData::new(rows, [header.bank_rows, header.dim]),
                    device,
                );
                Scorer::PatchCore(NormalBank::new(rows)?)
            }
            other => return Err(file_error(format!("unknown scorer '{other}'"))),
        };
        Ok(Detector {
            config: header.config,
            backbone,
            scorer,
            dim: header.dim,
            report: FitReport::default(),
            cache: None,
            calibration: header.calibration,
            colour_scale: header.colour_scale,
        })
    }
}

/// A detector file's header, payload bytes and embedded weights (when it has them).
type FileParts = (Header, Vec<u8>, Option<Vec<u8>>);

/// Reads and checks a detector file: its header, the payload's bytes and any embedded weights.
fn read_file(path: &Path) -> Result<FileParts, String> {
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let metadata = file.metadata().map_err(|e| e.to_string())?;
    if !metadata.is_file() {
        return Err("not a regular file".into());
    }
    let file_len = metadata.len();
    let mut prefix = [0u8; PREFIX_LEN as usize];
    let got = read_up_to(&mut file, &mut prefix)?;
    if got < MAGIC.len() || &prefix[..MAGIC.len()] != MAGIC {
        return Err("not a wscxr detector file".into());
    }
    if got < PREFIX_LEN as usize {
        return Err("truncated header".into());
    }
    let version = u32::from_le_bytes([prefix[8], prefix[9], prefix[10], prefix[11]]);
    if version != FORMAT_VERSION {
        return Err(format!(
            "written in detector format version {version}; this build reads version {FORMAT_VERSION}"
        ));
    }
    let mut len_bytes = [0u8; 8];
    len_bytes.copy_from_slice(&prefix[12..20]);
    let header_len = u64::from_le_bytes(len_bytes);
    if header_len > MAX_HEADER {
        return Err(format!(
            "corrupted: header length {header_len} exceeds the limit of {MAX_HEADER} bytes"
        ));
    }
    // The format's largest file, checked before anything is allocated from the file's length.
    let max_len = PREFIX_LEN + MAX_HEADER + MAX_PAYLOAD + MAX_EMBEDDED_WEIGHTS + CHECKSUM_LEN;
    if file_len > max_len {
        return Err(format!(
            "{file_len} bytes: larger than any detector file can be ({max_len})"
        ));
    }
    let body_len = file_len
        .checked_sub(PREFIX_LEN + header_len + CHECKSUM_LEN)
        .ok_or("truncated: shorter than its header says")?;
    // Everything after the prefix, bounded by the file's size on disk (a regular file).
    let rest_len = usize::try_from(file_len - PREFIX_LEN).map_err(|_| "file too large")?;
    let mut rest = Vec::new();
    rest.try_reserve_exact(rest_len)
        .map_err(|_| format!("cannot allocate {rest_len} bytes to read it"))?;
    (&mut file)
        .take(rest_len as u64)
        .read_to_end(&mut rest)
        .map_err(|e| e.to_string())?;
    if rest.len() != rest_len {
        return Err("truncated: the file changed while being read".into());
    }
    let (body, checksum) = rest.split_at(rest_len - CHECKSUM_LEN as usize);
    let mut hasher = Sha256::new();
    hasher.update(prefix);
    hasher.update(body);
    if hasher.finalize().as_slice() != checksum {
        return Err("corrupted: the contents do not match their checksum".into());
    }
    let header_bytes = &body[..header_len as usize];
    let header: Header =
        serde_json::from_slice(header_bytes).map_err(|e| format!("corrupted header: {e}"))?;
    let weights_len = match &header.embedded_weights {
        None => 0,
        Some(embedded) => {
            if !matches!(embedded.format.as_str(), "bpk" | "onnx")
                || embedded.len == 0
                || embedded.len > MAX_EMBEDDED_WEIGHTS
            {
                return Err(format!(
                    "corrupted header: embedded weights of format '{}' and {} bytes",
                    embedded.format, embedded.len
                ));
            }
            embedded.len
        }
    };
    let payload_len = body_len
        .checked_sub(weights_len)
        .ok_or("truncated: shorter than its embedded weights")?;
    check_header(&header, payload_len)?;
    // Offsets in `rest`, which starts right after the prefix.
    let payload_start = header_len as usize;
    let weights_start = payload_start + payload_len as usize;
    let payload = rest[payload_start..weights_start].to_vec();
    // The weights are moved to the front of the buffer they were read into, not copied into a
    // second one: loading a self-contained file holds it about once, not twice.
    let weights = header.embedded_weights.as_ref().map(|_| {
        let mut weights = rest;
        weights.truncate(weights_start + weights_len as usize);
        weights.drain(..weights_start);
        weights
    });
    Ok((header, payload, weights))
}

/// Fills as much of `buf` as the file has.
fn read_up_to(file: &mut std::fs::File, buf: &mut [u8]) -> Result<usize, String> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(filled)
}

/// Bounds every size the header declares, and checks that they account for the payload.
fn check_header(header: &Header, payload_len: u64) -> Result<(), String> {
    check_config(&header.config)?;
    if let Some(calibration) = &header.calibration {
        check_calibration(calibration)?;
    }
    header
        .colour_scale
        .checked()
        .map_err(|e| format!("corrupted header: {e}"))?;
    if header.backbone != header.config.backbone.name() {
        return Err(format!(
            "backbone '{}' differs from the configuration's '{}'",
            header.backbone,
            header.config.backbone.name()
        ));
    }
    if header.payload_len != payload_len {
        return Err(format!(
            "corrupted: the header declares {} payload bytes, the file holds {payload_len}",
            header.payload_len
        ));
    }
    let network = header.config.backbone;
    let mut channels = 0usize;
    for tap in &header.config.layers {
        channels += network
            .tap_channels(tap)
            .ok_or_else(|| format!("{network} has no layer '{tap}'"))?;
    }
    let dim = header.config.patch.reduce_to.unwrap_or(channels);
    if header.dim != dim || dim == 0 || dim > MAX_WIDTH {
        return Err(format!(
            "feature dimension {} does not match the configured layers ({dim})",
            header.dim
        ));
    }
    let too_large = || "sizes overflow".to_string();
    match header.scorer.as_str() {
        "patchcore" => {
            let expected = (header.bank_rows as u64)
                .checked_mul(dim as u64)
                .and_then(|n| n.checked_mul(4))
                .ok_or_else(too_large)?;
            if header.bank_rows == 0 || expected != payload_len {
                return Err(format!(
                    "a bank of {} rows of {dim} values needs {expected} bytes, the file holds {payload_len}",
                    header.bank_rows
                ));
            }
        }
        "discriminator" => {
            if header.bank_rows != 0 {
                return Err("a discriminator file declares bank rows".into());
            }
            let hidden = &header.config.discriminator.hidden;
            // Linear weight and bias, then batch norm's gamma, beta, mean and variance; the
            // head has no bias.
            let mut params = 0u64;
            let mut width = dim as u64;
            for &w in hidden {
                let w = w as u64;
                let block = width
                    .checked_mul(w)
                    .and_then(|n| n.checked_add(5 * w))
                    .ok_or_else(too_large)?;
                params = params.checked_add(block).ok_or_else(too_large)?;
                width = w;
            }
            params = params.checked_add(width).ok_or_else(too_large)?;
            let bytes = params.checked_mul(4).ok_or_else(too_large)?;
            if payload_len < bytes || payload_len - bytes > MAX_RECORD_OVERHEAD {
                return Err(format!(
                    "a discriminator of {params} parameters cannot be stored in {payload_len} bytes"
                ));
            }
        }
        other => return Err(format!("unknown scorer '{other}'")),
    }
    Ok(())
}

/// The same validation a fit's configuration passes, before any of its sizes is used.
fn check_config(config: &WscxrConfig) -> Result<(), String> {
    config.check().map_err(|e| format!("corrupted header: {e}"))
}

/// A stored calibration must be usable: a finite threshold and finite, sorted quantiles.
fn check_calibration(calibration: &Calibration) -> Result<(), String> {
    let q = &calibration.normal_quantiles;
    let sorted = q.windows(2).all(|w| w[0] <= w[1]);
    if !calibration.threshold.is_finite()
        || q.is_empty()
        || q.len() > 1024
        || !sorted
        || q.iter().any(|v| !v.is_finite())
    {
        return Err("corrupted header: the calibration is not usable".into());
    }
    Ok(())
}
