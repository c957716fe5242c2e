//! One file per trained detector: a versioned header (configuration, backbone identity, payload
//! checksum) and the scorer's weights.
//!
//! Layout: `WSCXRDET` | format version (u32 LE) | header length (u64 LE) | header JSON | payload.
//! The payload is the discriminator as a burnpack record, or (K = 0) the normal bank's rows as
//! little-endian f32.

use std::path::Path;

use burn::prelude::*;
use burn::store::{BurnpackStore, ModuleSnapshot};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wscxr_bank::NormalBank;

use crate::WscxrError;
use crate::config::WscxrConfig;
use crate::data::hex;
use crate::fit::FitReport;
use crate::fitted_detector::{Detector, Scorer};
use crate::weights::LoadedBackbone;

const MAGIC: &[u8; 8] = b"WSCXRDET";
/// The detector file format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Header {
    config: WscxrConfig,
    backbone: String,
    weights_sha256: String,
    dim: usize,
    scorer: String,
    bank_rows: usize,
    payload_len: u64,
    payload_sha256: String,
}

impl Detector {
    /// Writes the detector to one file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), WscxrError> {
        let path = path.as_ref();
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
        let header = Header {
            config: self.config.clone(),
            backbone: self.config.backbone.name().to_string(),
            weights_sha256: self.backbone.weights_sha256().to_string(),
            dim: self.dim,
            scorer: scorer.into(),
            bank_rows,
            payload_len: payload.len() as u64,
            payload_sha256: hex(&Sha256::digest(&payload)),
        };
        let header = serde_json::to_vec(&header).map_err(|e| file_error(e.to_string()))?;
        let mut bytes = Vec::with_capacity(20 + header.len() + payload.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&header);
        bytes.extend_from_slice(&payload);
        std::fs::write(path, bytes).map_err(|e| file_error(e.to_string()))
    }

    /// Reads a detector written by [`Detector::save`] onto `device`, reloading its backbone from the
    /// weights named in its configuration (which must still hash the same).
    pub fn load(path: impl AsRef<Path>, device: &Device) -> Result<Self, WscxrError> {
        let path = path.as_ref();
        let file_error = |reason: String| WscxrError::DetectorFile {
            path: path.to_path_buf(),
            reason,
        };
        let bytes = std::fs::read(path).map_err(|e| file_error(e.to_string()))?;
        let rest = bytes
            .strip_prefix(MAGIC)
            .ok_or_else(|| file_error("not a wscxr detector file".into()))?;
        if rest.len() < 12 {
            return Err(file_error("truncated header".into()));
        }
        let version = u32::from_le_bytes(rest[0..4].try_into().expect("4 bytes"));
        if version != FORMAT_VERSION {
            return Err(file_error(format!(
                "written in detector format version {version}; this build reads version {FORMAT_VERSION}"
            )));
        }
        let header_len = u64::from_le_bytes(rest[4..12].try_into().expect("8 bytes")) as usize;
        let body = &rest[12..];
        if body.len() < header_len {
            return Err(file_error("truncated header".into()));
        }
        let header: Header = serde_json::from_slice(&body[..header_len])
            .map_err(|e| file_error(format!("corrupted header: {e}")))?;
        let payload = &body[header_len..];
        if payload.len() as u64 != header.payload_len
            || hex(&Sha256::digest(payload)) != header.payload_sha256
        {
            return Err(file_error(
                "corrupted: the weights do not match their checksum".into(),
            ));
        }
        header.config.check()?;
        let backbone = LoadedBackbone::load(&header.config, device)?;
        let weights_sha256 = backbone.weights_sha256();
        if weights_sha256 != header.weights_sha256 {
            return Err(file_error(format!(
                "fitted with {} weights of SHA-256 {}, but the weights file now hashes to {weights_sha256}",
                header.backbone, header.weights_sha256
            )));
        }
        let scorer = match header.scorer.as_str() {
            "discriminator" => {
                let mut d = header.config.discriminator.init(header.dim, 0, device);
                let mut store = BurnpackStore::from_bytes(Some(
                    burn::tensor::Bytes::from_bytes_vec(payload.to_vec()),
                ));
                let result = d
                    .load_from(&mut store)
                    .map_err(|e| file_error(format!("discriminator weights: {e}")))?;
                if !result.errors.is_empty() || !result.unused.is_empty() {
                    return Err(file_error(format!("discriminator weights: {result}")));
                }
                Scorer::Discriminator(d)
            }
            "patchcore" => {
                let rows: Vec<f32> = payload
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                    .collect();
                if rows.len() != header.bank_rows * header.dim {
                    return Err(file_error("bank size does not match the header".into()));
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
            calibration: None,
        })
    }
}
