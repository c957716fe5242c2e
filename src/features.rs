//! Patch features of X-rays: backbone feature maps, extracted or read from an on-disk cache (so
//! that sweeps over K, seeds and ablations extract each image once), then aggregated into patches.
//!
//! Entries are keyed by (cache format and feature code version, image hash, backbone,
//! weights file hash, image size, tap); changing any of them, or the image's bytes, misses the
//! cache. One small file per image and tap: `WSCXRFC2` | rank (u8, 3) | `[C, h, w]` (u64 LE each)
//! | values (f32 LE) | SHA-256 of every byte before it. An entry that fails any check (checksum,
//! rank, sizes, channel count) is reported on stderr and recomputed, never trusted or a panic.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use sha2::{Digest, Sha256};
use wscxr_backbone::{Backbone, BackboneError, ExtractOptions, ExtractTimings};
use wscxr_bank::PatchFeatures;
use wscxr_image::Xray;

use crate::WscxrError;
use crate::config::WscxrConfig;
use crate::fsutil::{file_sha256, hex, write_atomically};
use crate::observer::{Observer, Part, Stage};
use crate::weights::LoadedBackbone;

const MAGIC: &[u8; 8] = b"WSCXRFC2";
/// Part of every key. Bump the number when preprocessing or feature extraction changes what a
/// map holds for the same inputs; the crate version changes it with every release too.
const FEATURE_VERSION: &str = concat!("features-2/wscxr-", env!("CARGO_PKG_VERSION"));
const CHECKSUM_LEN: usize = 32;
/// The largest entry read: a 1024-channel map of a 4096 px image at stride 16 is 256 MiB.
const MAX_ENTRY_BYTES: u64 = 1 << 30;

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
        let key = Sha256::digest(format!("{FEATURE_VERSION}|{image_hash}|{identity}|{tap}"));
        self.dir.join(format!("{}.feat", hex(&key)))
    }

    /// A cached map: `Ok(None)` when there is none, `Err` (why) when the entry is damaged.
    fn read(path: &Path, channels: Option<usize>) -> Result<Option<Entry>, String> {
        let bytes = match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.to_string()),
            Ok(m) if !m.is_file() => return Err("not a regular file".into()),
            Ok(m) if m.len() > MAX_ENTRY_BYTES => {
                return Err(format!(
                    "{} bytes, over the limit of {MAX_ENTRY_BYTES}",
                    m.len()
                ));
            }
            Ok(_) => std::fs::read(path).map_err(|e| e.to_string())?,
        };
        let body_len = bytes
            .len()
            .checked_sub(CHECKSUM_LEN)
            .ok_or("truncated entry")?;
        let (body, checksum) = bytes.split_at(body_len);
        if Sha256::digest(body).as_slice() != checksum {
            return Err("checksum mismatch".into());
        }
        let body = body
            .strip_prefix(MAGIC)
            .ok_or("not a feature cache entry")?;
        let (&rank, body) = body.split_first().ok_or("truncated entry")?;
        if rank != 3 {
            return Err(format!("rank {rank}, expected 3"));
        }
        let (dims, values) = body.split_at_checked(24).ok_or("truncated entry")?;
        let shape: Vec<usize> = dims
            .chunks_exact(8)
            .map(|c| {
                let mut d = [0u8; 8];
                d.copy_from_slice(c);
                usize::try_from(u64::from_le_bytes(d)).unwrap_or(usize::MAX)
            })
            .collect();
        let expected_bytes = shape
            .iter()
            .try_fold(4usize, |n, &d| n.checked_mul(d))
            .ok_or("sizes overflow")?;
        if expected_bytes != values.len() || shape.contains(&0) {
            return Err(format!(
                "shape {shape:?} does not match its {} value bytes",
                values.len()
            ));
        }
        if let Some(c) = channels
            && shape[0] != c
        {
            return Err(format!("{} channels, the tap has {c}", shape[0]));
        }
        let values = values
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok(Some((shape, values)))
    }

    fn write(path: &Path, shape: &[usize], values: &[f32]) -> std::io::Result<()> {
        let mut bytes = Vec::with_capacity(9 + shape.len() * 8 + values.len() * 4 + CHECKSUM_LEN);
        bytes.extend_from_slice(MAGIC);
        bytes.push(shape.len() as u8);
        for &d in shape {
            bytes.extend_from_slice(&(d as u64).to_le_bytes());
        }
        for v in values {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        let checksum = Sha256::digest(&bytes);
        bytes.extend_from_slice(&checksum);
        // Not flushed to disk: a torn entry after a crash fails its checksum and is recomputed.
        write_atomically(path, &bytes, false)
    }
}

/// Feature maps of `images` (one `[N, C, h, w]` tensor per tap), through the cache when given one.
/// `identity` names the backbone and its weights (e.g. `xception:<sha256>`). Files are known by
/// the hash of their bytes, radiographs in memory by that of their pixels.
pub fn extract_features(
    backbone: &Backbone,
    identity: &str,
    paths: &[Xray],
    options: &ExtractOptions,
    cache: Option<&FeatureCache>,
    mut progress: impl FnMut(usize, usize),
) -> Result<Vec<Tensor<4>>, WscxrError> {
    let mut timings = ExtractTimings::default();
    let progress = |done, total| {
        progress(done, total);
        ControlFlow::Continue(())
    };
    through_cache(
        backbone,
        identity,
        paths,
        options,
        cache,
        progress,
        &mut timings,
    )
}

/// [`extract_features`], also filling in the backbone's `timings` (left at zero for images
/// read from the cache).
fn through_cache(
    backbone: &Backbone,
    identity: &str,
    paths: &[Xray],
    options: &ExtractOptions,
    cache: Option<&FeatureCache>,
    progress: impl FnMut(usize, usize) -> ControlFlow<()>,
    timings: &mut ExtractTimings,
) -> Result<Vec<Tensor<4>>, WscxrError> {
    let mut extract = |paths: &[Xray], progress| -> Result<Vec<Tensor<4>>, WscxrError> {
        let (maps, spent) = backbone.extract_timed(paths, options, progress)?;
        *timings = spent;
        Ok(maps)
    };
    let Some(cache) = cache else {
        return extract(paths, progress);
    };
    if paths.is_empty() {
        return extract(paths, progress);
    }
    let identity = format!("{identity}|{}", options.size);
    let hashes = paths
        .iter()
        .map(image_sha256)
        .collect::<Result<Vec<_>, _>>()?;
    let network = backbone.network();
    let mut cached: Vec<Vec<Option<Entry>>> = hashes
        .iter()
        .map(|h| {
            options
                .taps
                .iter()
                .map(|tap| {
                    let entry = cache.entry(h, &identity, tap);
                    FeatureCache::read(&entry, network.tap_channels(tap)).unwrap_or_else(|why| {
                        eprintln!(
                            "warning: feature cache entry {} is damaged ({why}); recomputing it",
                            entry.display()
                        );
                        None
                    })
                })
                .collect()
        })
        .collect();
    let missing: Vec<usize> = (0..paths.len())
        .filter(|&i| cached[i].iter().any(Option::is_none))
        .collect();
    if !missing.is_empty() {
        let missing_paths: Vec<Xray> = missing.iter().map(|&i| paths[i].clone()).collect();
        let maps = extract(&missing_paths, progress)?;
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
        let Some((shape, _)) = &cached[0][t] else {
            return Err(WscxrError::Cache {
                path: cache.dir().to_path_buf(),
                reason: "the backbone returned fewer maps than taps".into(),
            });
        };
        let shape = shape.clone();
        let mut values = Vec::with_capacity(paths.len() * shape.iter().product::<usize>());
        for image in &cached {
            let Some((s, v)) = &image[t] else {
                return Err(WscxrError::Cache {
                    path: cache.dir().to_path_buf(),
                    reason: "the backbone returned fewer maps than images".into(),
                });
            };
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

/// A file's SHA-256, or that of an in-memory radiograph's size, pixel type and pixels.
fn image_sha256(image: &Xray) -> Result<String, WscxrError> {
    match image {
        Xray::File(path) => file_sha256(path),
        Xray::Decoded(radiograph) => {
            let pixels = radiograph.pixels();
            let mut hasher = Sha256::new();
            hasher.update(b"radiograph");
            hasher.update(pixels.width().to_le_bytes());
            hasher.update(pixels.height().to_le_bytes());
            hasher.update(format!("{:?}", pixels.color()).as_bytes());
            hasher.update(pixels.as_bytes());
            Ok(hex(&hasher.finalize()))
        }
    }
}

impl LoadedBackbone {
    /// Patch features of X-rays under `config` (through `cache` when given);
    /// `progress(done, total)` counts images.
    pub fn patch_features(
        &self,
        paths: &[Xray],
        config: &WscxrConfig,
        cache: Option<&FeatureCache>,
        progress: impl FnMut(usize, usize) + Send,
    ) -> Result<PatchFeatures, WscxrError> {
        /// Passes progress to the closure and drops timings.
        struct Progress<F>(F);
        impl<F: FnMut(usize, usize) + Send> Observer for Progress<F> {
            fn progress(&mut self, _: Stage, done: usize, total: usize) {
                (self.0)(done, total);
            }
        }
        let mut observer = Progress(progress);
        self.patch_features_observed(paths, config, cache, Stage::Scoring, &mut observer)
    }

    /// Patch features of X-rays, reporting progress in `stage` and the time of each part to
    /// `observer`.
    pub(crate) fn patch_features_observed(
        &self,
        paths: &[Xray],
        config: &WscxrConfig,
        cache: Option<&FeatureCache>,
        stage: Stage,
        observer: &mut dyn Observer,
    ) -> Result<PatchFeatures, WscxrError> {
        let clock = Instant::now();
        let mut timings = ExtractTimings::default();
        let maps = through_cache(
            self.backbone(),
            &self.identity(),
            paths,
            &config.extract_options(),
            cache,
            |done, total| {
                observer.progress(stage, done, total);
                if observer.interrupted() {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
            &mut timings,
        )
        .map_err(|e| match e {
            WscxrError::Backbone(BackboneError::Interrupted { .. }) => {
                WscxrError::Interrupted { stage }
            }
            e => e,
        })?;
        // Forward is all the wall time not spent waiting for images: the passes, and the cache's
        // hashing, reads and writes.
        timings.forward = (clock.elapsed().as_secs_f64() - timings.waiting).max(0.0);
        observer.timed(Part::Decode, timings.decode);
        observer.timed(Part::Preprocess, timings.preprocess);
        observer.timed(Part::WaitingForImages, timings.waiting);
        observer.timed(Part::Forward, timings.forward);
        let clock = Instant::now();
        let features = wscxr_bank::patch_features(&maps, &config.patch)?;
        observer.timed(Part::PatchAggregation, clock.elapsed().as_secs_f64());
        Ok(features)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Thousands of damaged entries: each read is an error, or (when the damage happens to leave
    /// a consistent entry, which the checksum makes impossible here) a map of the right size;
    /// never a panic, and never an allocation beyond the entry's own length.
    #[test]
    fn damaged_entries_are_errors_never_panics() {
        let tmp = std::env::temp_dir().join(format!("wscxr-cache-test-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        let path = tmp.join("entry.feat");
        let values: Vec<f32> = (0..4 * 3 * 5).map(|i| i as f32 * 0.25 - 3.0).collect();
        FeatureCache::write(&path, &[4, 3, 5], &values).unwrap();
        let intact = std::fs::read(&path).unwrap();
        assert_eq!(
            FeatureCache::read(&path, Some(4)).unwrap(),
            Some((vec![4, 3, 5], values.clone()))
        );
        assert!(
            FeatureCache::read(&path, Some(5)).is_err(),
            "wrong channels"
        );
        assert_eq!(FeatureCache::read(&tmp.join("absent"), None), Ok(None));
        assert!(FeatureCache::read(&tmp, None).is_err(), "a folder");

        let check = |bytes: &[u8], what: &str| {
            std::fs::write(&path, bytes).unwrap();
            match FeatureCache::read(&path, Some(4)) {
                Err(_) => {}
                Ok(entry) => panic!("{what}: damaged entry accepted: {entry:?}"),
            }
        };
        let mut mutants = 0;
        for at in 0..intact.len() {
            for bit in [0x01, 0x10, 0x80] {
                let mut m = intact.clone();
                m[at] ^= bit;
                check(&m, &format!("byte {at} ^ {bit:#x}"));
                mutants += 1;
            }
        }
        for cut in 0..intact.len() {
            check(&intact[..cut], &format!("cut at {cut}"));
            mutants += 1;
        }
        // Sizes set to huge values with a valid checksum: refused before any allocation.
        let body = &intact[..intact.len() - CHECKSUM_LEN];
        for field in 0..3 {
            for huge in [u64::MAX, 1 << 62, 1 << 40, 1 << 31] {
                let mut m = body.to_vec();
                m[9 + 8 * field..17 + 8 * field].copy_from_slice(&huge.to_le_bytes());
                let checksum = Sha256::digest(&m);
                m.extend_from_slice(&checksum);
                check(&m, &format!("dim {field} = {huge}"));
                mutants += 1;
            }
        }
        for rank in [0u8, 1, 2, 4, 255] {
            let mut m = body.to_vec();
            m[8] = rank;
            let checksum = Sha256::digest(&m);
            m.extend_from_slice(&checksum);
            check(&m, &format!("rank {rank}"));
            mutants += 1;
        }
        std::fs::remove_dir_all(&tmp).unwrap();
        assert!(mutants > 1000, "{mutants}");
    }
}
