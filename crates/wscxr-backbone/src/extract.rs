//! Feature extraction from image files: decoding and resizing of the next batch (in parallel, on
//! a helper thread) overlaps the forward pass of the current one.

use std::ops::ControlFlow;
use std::time::Instant;

use burn::prelude::*;
use serde::{Deserialize, Serialize};
use wscxr_image::{InputImage, Xray, preprocess, read_ahead};

use crate::BackboneError;
use crate::backbone::Backbone;

/// Options for [`Backbone::extract`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtractOptions {
    /// Images are resized to `size x size` (the paper: 256).
    pub size: usize,
    /// Feature taps to return, e.g. `["block13_out"]`.
    pub taps: Vec<String>,
    /// Images per forward pass.
    pub batch_size: usize,
}

impl ExtractOptions {
    /// `size` 256, batch 8, the given taps.
    pub fn new<S: Into<String>>(taps: impl IntoIterator<Item = S>) -> Self {
        Self {
            size: 256,
            taps: taps.into_iter().map(Into::into).collect(),
            batch_size: 8,
        }
    }
}

/// Where the time of [`Backbone::extract_timed`] went. Decoding and preprocessing run on helper
/// threads while the network runs, so their seconds are summed over images (CPU time, which may
/// exceed the wall time); `forward` and `waiting` are wall time of the calling thread, and
/// `waiting` is the part of decoding that the forward passes did not hide.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ExtractTimings {
    /// Reading and decoding the files (PNG, JPEG, DICOM), summed over images.
    pub decode: f64,
    /// Resizing and normalising into network input, summed over images.
    pub preprocess: f64,
    /// Forward passes, wall time.
    pub forward: f64,
    /// Waiting for decoded input, wall time.
    pub waiting: f64,
}

impl Backbone {
    /// Reads (files) or takes (radiographs in memory), preprocesses and runs X-rays in batches;
    /// returns one `[N, C, h, w]` tensor per requested tap, images in the order given.
    ///
    /// The next batch is decoded (in parallel) while the current one runs through the network.
    /// `progress(done, total)` is called after each batch.
    pub fn extract(
        &self,
        images: &[Xray],
        options: &ExtractOptions,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Vec<Tensor<4>>, BackboneError> {
        let progress = |done, total| {
            progress(done, total);
            ControlFlow::Continue(())
        };
        Ok(self.extract_timed(images, options, progress)?.0)
    }

    /// [`Backbone::extract`], and where its time went. `progress` may also stop the run
    /// between batches (`ControlFlow::Break`), which returns [`BackboneError::Interrupted`].
    pub fn extract_timed(
        &self,
        images: &[Xray],
        options: &ExtractOptions,
        mut progress: impl FnMut(usize, usize) -> ControlFlow<()>,
    ) -> Result<(Vec<Tensor<4>>, ExtractTimings), BackboneError> {
        if options.batch_size == 0 {
            return Err(BackboneError::InvalidParameter {
                name: "batch_size",
                value: "0".into(),
                reason: "must be positive",
            });
        }
        if options.size == 0 {
            return Err(BackboneError::InvalidParameter {
                name: "image_size",
                value: "0".into(),
                reason: "must be positive",
            });
        }
        let taps: Vec<&str> = options.taps.iter().map(String::as_str).collect();
        for tap in &taps {
            self.network.tap_index(tap)?;
        }
        if taps.is_empty() {
            return Err(BackboneError::InvalidParameter {
                name: "taps",
                value: "[]".into(),
                reason: "name at least one feature tap",
            });
        }
        if images.is_empty() {
            return Err(BackboneError::InvalidParameter {
                name: "images",
                value: "[]".into(),
                reason: "give at least one image",
            });
        }
        let total = images.len();
        let normalization = self.network.normalization();
        let size = options.size;
        let mut outputs: Vec<Vec<Tensor<4>>> = vec![Vec::new(); taps.len()];
        let mut timings = ExtractTimings::default();
        let mut done = 0;
        let decode = |x: &Xray| -> Result<(InputImage, f64, f64), BackboneError> {
            let clock = Instant::now();
            let radiograph = x.decode()?;
            let decoding = clock.elapsed().as_secs_f64();
            let clock = Instant::now();
            let input = preprocess(radiograph.pixels(), size, normalization);
            Ok((input, decoding, clock.elapsed().as_secs_f64()))
        };
        read_ahead(images, options.batch_size, decode, |batch, waited| {
            timings.waiting += waited;
            let forward = Instant::now();
            let n = batch.len();
            let mut data = Vec::with_capacity(n * 3 * size * size);
            for (image, decoding, preprocessing) in batch {
                data.extend_from_slice(&image.data);
                timings.decode += decoding;
                timings.preprocess += preprocessing;
            }
            let input =
                Tensor::<4>::from_data(TensorData::new(data, [n, 3, size, size]), &self.device);
            for (out, map) in outputs.iter_mut().zip(self.forward(input, &taps)?) {
                out.push(map);
            }
            timings.forward += forward.elapsed().as_secs_f64();
            done += n;
            match progress(done, total) {
                ControlFlow::Continue(()) => Ok(()),
                ControlFlow::Break(()) => Err(BackboneError::Interrupted { done, total }),
            }
        })?;
        let maps = outputs
            .into_iter()
            .map(|maps| Tensor::cat(maps, 0))
            .collect();
        Ok((maps, timings))
    }
}
