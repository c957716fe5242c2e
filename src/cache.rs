//! An on-disk cache of backbone feature maps, so that sweeps over K, seeds and ablations extract
//! each image once.
//!
//! Entries are keyed by (image file hash, backbone, weights file hash, image size, tap); changing
//! any of them, or the image's bytes, misses the cache. One small file per image and tap.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use sha2::{Digest, Sha256};
use wscxr_backbone::{Backbone, ExtractOptions};

use crate::WscxrError;
use crate::data::{file_sha256, hex};

const MAGIC: &[u8; 8] = b"WSCXRFC1";

/// One cached map: its `[C, h, w]` shape and values.
type Entry = (Vec<usize>, Vec<f32>);

/// A folder of cached feature maps.
#[derive(Debug, Clone)]
pub struct FeatureCache {
    dir: PathBuf,
}

impl FeatureCache {
    /// A cache in `dir` (created if needed).
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, WscxrError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| WscxrError::Cache {
            path: dir.clone(),
            reason: format!("cannot create the folder: {e}"),
        })?;
        Ok(Self { dir })
    }

    /// The cache folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry(&self, image_hash: &str, identity: &str, tap: &str) -> PathBuf {
        let key = Sha256::digest(format!("{image_hash}|{identity}|{tap}"));
        self.dir.join(format!("{}.feat", hex(&key)))
    }

    fn read(path: &Path) -> Option<Entry> {
        let bytes = std::fs::read(path).ok()?;
        let body = bytes.strip_prefix(MAGIC)?;
        let rank = *body.first()? as usize;
        let dims_end = 1 + rank * 8;
        let shape: Vec<usize> = body
            .get(1..dims_end)?
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")) as usize)
            .collect();
        let values: Vec<f32> = body
            .get(dims_end..)?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        // A truncated or otherwise damaged entry is a miss, not an error.
        (values.len() == shape.iter().product::<usize>()).then_some((shape, values))
    }

    fn write(path: &Path, shape: &[usize], values: &[f32]) -> std::io::Result<()> {
        let mut bytes = Vec::with_capacity(16 + shape.len() * 8 + values.len() * 4);
        bytes.extend_from_slice(MAGIC);
        bytes.push(shape.len() as u8);
        for &d in shape {
            bytes.extend_from_slice(&(d as u64).to_le_bytes());
        }
        for v in values {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        let temp = path.with_extension("tmp");
        std::fs::write(&temp, bytes)?;
        std::fs::rename(temp, path)
    }
}

/// Feature maps of `paths` (one `[N, C, h, w]` tensor per tap), through the cache when given one.
/// `identity` names the backbone and its weights (e.g. `xception:<sha256>`).
pub fn extract_features(
    backbone: &Backbone,
    identity: &str,
    paths: &[PathBuf],
    options: &ExtractOptions,
    cache: Option<&FeatureCache>,
    progress: impl FnMut(usize, usize),
) -> Result<Vec<Tensor<4>>, WscxrError> {
    let Some(cache) = cache else {
        return Ok(backbone.extract(paths, options, progress)?);
    };
    let identity = format!("{identity}|{}", options.size);
    let hashes = paths
        .iter()
        .map(|p| file_sha256(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut cached: Vec<Vec<Option<Entry>>> = hashes
        .iter()
        .map(|h| {
            options
                .taps
                .iter()
                .map(|tap| FeatureCache::read(&cache.entry(h, &identity, tap)))
                .collect()
        })
        .collect();
    let missing: Vec<usize> = (0..paths.len())
        .filter(|&i| cached[i].iter().any(Option::is_none))
        .collect();
    if !missing.is_empty() {
        let missing_paths: Vec<PathBuf> = missing.iter().map(|&i| paths[i].clone()).collect();
        let maps = backbone.extract(&missing_paths, options, progress)?;
        for (t, (tap, map)) in options.taps.iter().zip(maps).enumerate() {
            let [n, c, h, w] = map.dims();
            let values = map
                .try_into_vec_as::<f32>()
                .map_err(|e| WscxrError::Readback {
                    what: "feature maps",
                    reason: format!("{e:?}"),
                })?;
            let per_image = c * h * w;
            for (k, &i) in missing.iter().enumerate().take(n) {
                let slice = &values[k * per_image..(k + 1) * per_image];
                let entry = cache.entry(&hashes[i], &identity, tap);
                FeatureCache::write(&entry, &[c, h, w], slice).map_err(|e| WscxrError::Cache {
                    path: entry.clone(),
                    reason: format!("cannot write: {e}"),
                })?;
                cached[i][t] = Some((vec![c, h, w], slice.to_vec()));
            }
        }
    }
    let device = backbone.device();
    let mut out = Vec::with_capacity(options.taps.len());
    for t in 0..options.taps.len() {
        let shape = cached[0][t].as_ref().expect("filled above").0.clone();
        let mut values = Vec::with_capacity(paths.len() * shape.iter().product::<usize>());
        for image in &cached {
            let (s, v) = image[t].as_ref().expect("filled above");
            if *s != shape {
                return Err(WscxrError::Cache {
                    path: cache.dir().to_path_buf(),
                    reason: format!("cached feature maps differ in shape ({s:?} vs {shape:?})"),
                });
            }
            values.extend_from_slice(v);
        }
        let dims = [paths.len(), shape[0], shape[1], shape[2]];
        out.push(Tensor::from_data(TensorData::new(values, dims), device));
    }
    Ok(out)
}
