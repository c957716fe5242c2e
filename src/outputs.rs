//! Scoring image files together with what a reader looks at beside each score: the heatmap picture
//! and the anomaly map as a NumPy array, both drawn from the pixels that were scored. The one
//! streaming loop behind `wscxr score` and the `predict` example.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;
use wscxr_image::{Radiograph, Xray, read_ahead};

use crate::WscxrError;
use crate::fitted_detector::{Detector, ScoredImage};
#[cfg(feature = "plots")]
use crate::localisation::Boxes;
use crate::observer::{Observer, Offset, Part};

/// X-rays decoded at once when pictures are drawn: each is decoded once, scored from memory and
/// drawn from the same pixels, and memory holds one group's images at their full resolution.
pub const DRAW_GROUP: usize = 16;

/// What [`Detector::score_files`] writes for each image besides its score. Nothing by default.
#[derive(Debug, Clone, Default)]
pub struct ImageOutputs {
    /// Folder for heatmaps (`<index>_<file stem>.png`, the index six digits wide): the image at
    /// its own resolution with its anomaly map on the detector's colour scale and a colour bar.
    #[cfg(feature = "plots")]
    pub heatmaps: Option<PathBuf>,
    /// Radiologists' boxes, outlined on the heatmaps of the images they name.
    #[cfg(feature = "plots")]
    pub boxes: Option<Boxes>,
    /// Folder for anomaly maps (`<file stem>.npy`: float32, shape (height, width) of the image,
    /// in score units; [`ScoredImage::map`]).
    pub maps: Option<PathBuf>,
    /// The index of the first image in the heatmaps' names: a shard's offset in the whole list,
    /// so that the shards' pictures sort together.
    pub first_index: usize,
}

impl ImageOutputs {
    /// Whether anything besides scores is written, so that images must be decoded here.
    fn draws(&self) -> bool {
        #[cfg(feature = "plots")]
        if self.heatmaps.is_some() {
            return true;
        }
        self.maps.is_some()
    }

    /// Refuses inputs whose maps would overwrite each other: maps are named by file stem, and two
    /// files of one stem (from two folders, or `a.png` beside `a.dcm`) would share one.
    pub fn check(&self, paths: &[PathBuf]) -> Result<(), WscxrError> {
        let Some(dir) = &self.maps else {
            return Ok(());
        };
        let mut stems = HashMap::new();
        for path in paths {
            if let Some(first) = stems.insert(path.file_stem(), path) {
                let stem = path.file_stem().unwrap_or_default().to_string_lossy();
                return Err(WscxrError::Data {
                    path: path.clone(),
                    reason: format!(
                        "it and {} would both be written to {}",
                        first.display(),
                        dir.join(format!("{stem}.npy")).display()
                    ),
                });
            }
        }
        Ok(())
    }
}

impl Detector {
    /// Scores image files in order and hands each result to `sink` together with its heatmap's
    /// file (when heatmaps are drawn). With nothing to draw, images stream through
    /// [`Detector::score_each`]; otherwise they are decoded [`DRAW_GROUP`] at a time in
    /// parallel, scored from memory, and drawn and written one image per core. Either way memory
    /// stays flat however many files there are. An error from `sink` stops scoring.
    pub fn score_files(
        &self,
        paths: &[PathBuf],
        outputs: &ImageOutputs,
        observer: &mut dyn Observer,
        mut sink: impl FnMut(&ScoredImage, Option<&Path>) -> Result<(), WscxrError>,
    ) -> Result<(), WscxrError> {
        if !outputs.draws() {
            let mut writing = 0.0;
            self.score_each(paths, observer, |image| {
                let clock = Instant::now();
                let written = sink(&image, None);
                writing += clock.elapsed().as_secs_f64();
                written
            })?;
            observer.timed(Part::Writing, writing);
            return Ok(());
        }
        outputs.check(paths)?;
        #[cfg(feature = "plots")]
        let folders = [&outputs.heatmaps, &outputs.maps];
        #[cfg(not(feature = "plots"))]
        let folders = [&outputs.maps];
        for dir in folders.into_iter().flatten() {
            std::fs::create_dir_all(dir).map_err(|e| WscxrError::Data {
                path: dir.clone(),
                reason: format!("cannot create the folder: {e}"),
            })?;
        }
        // The next group is decoded on a helper thread while this one is scored and drawn.
        let read = |path: &PathBuf| -> Result<(Arc<Radiograph>, f64), WscxrError> {
            let clock = Instant::now();
            let radiograph = Radiograph::read(path)?;
            Ok((Arc::new(radiograph), clock.elapsed().as_secs_f64()))
        };
        let mut offset = 0;
        read_ahead(paths, DRAW_GROUP, read, |timed, waited| {
            observer.timed(Part::WaitingForImages, waited);
            observer.timed(Part::Decode, timed.iter().map(|t| t.1).sum());
            let decoded: Vec<Arc<Radiograph>> = timed.into_iter().map(|t| t.0).collect();
            let group = &paths[offset..offset + decoded.len()];
            self.score_group(
                outputs,
                offset,
                paths.len(),
                group,
                &decoded,
                observer,
                &mut sink,
            )?;
            offset += decoded.len();
            Ok(())
        })
    }

    /// Scores one group of decoded images, writes their maps and heatmaps (one image per core:
    /// drawing and encoding dominate here) and hands each to `sink`.
    #[allow(clippy::too_many_arguments)]
    fn score_group(
        &self,
        outputs: &ImageOutputs,
        offset: usize,
        total: usize,
        group: &[PathBuf],
        decoded: &[Arc<Radiograph>],
        observer: &mut dyn Observer,
        sink: &mut impl FnMut(&ScoredImage, Option<&Path>) -> Result<(), WscxrError>,
    ) -> Result<(), WscxrError> {
        let xrays: Vec<Xray> = decoded.iter().cloned().map(Xray::from).collect();
        let mut progress = Offset {
            inner: &mut *observer,
            offset,
            total,
        };
        let mut scored = Vec::with_capacity(group.len());
        self.score_each(&xrays, &mut progress, |image| {
            scored.push(image);
            Ok(())
        })?;
        let clock = Instant::now();
        let files: Vec<Option<PathBuf>> = scored
            .par_iter()
            .zip(decoded)
            .zip(group)
            .enumerate()
            .map(|(i, ((image, radiograph), path))| {
                self.write_outputs(
                    outputs,
                    outputs.first_index + offset + i,
                    path,
                    image,
                    radiograph,
                )
            })
            .collect::<Result<_, WscxrError>>()?;
        for (image, file) in scored.iter().zip(&files) {
            sink(image, file.as_deref())?;
        }
        observer.timed(Part::Writing, clock.elapsed().as_secs_f64());
        Ok(())
    }

    /// Writes one image's map and heatmap; returns the heatmap's file.
    #[cfg_attr(not(feature = "plots"), allow(unused_variables))]
    fn write_outputs(
        &self,
        outputs: &ImageOutputs,
        index: usize,
        path: &Path,
        image: &ScoredImage,
        radiograph: &Radiograph,
    ) -> Result<Option<PathBuf>, WscxrError> {
        let stem = path.file_stem().unwrap_or_default().to_string_lossy();
        // One map serves both outputs.
        let size = [radiograph.height() as usize, radiograph.width() as usize];
        let map = image.map(size)?;
        if let Some(dir) = &outputs.maps {
            map.write_npy(&dir.join(format!("{stem}.npy")))?;
        }
        #[cfg(feature = "plots")]
        if let Some(dir) = &outputs.heatmaps {
            let file = dir.join(format!("{index:06}_{stem}.png"));
            let boxes = outputs.boxes.as_ref();
            let found = boxes.and_then(|b| b.of(&path.to_string_lossy()));
            self.heatmap_of_map(radiograph, &map, found.unwrap_or_default())?
                .save(&file)
                .map_err(|e| WscxrError::Data {
                    path: file.clone(),
                    reason: format!("cannot write the heatmap: {e}"),
                })?;
            return Ok(Some(file));
        }
        Ok(None)
    }
}
