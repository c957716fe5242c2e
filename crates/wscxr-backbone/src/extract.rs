//! Feature extraction from image files: decoding and resizing of the next batch (in parallel, on
//! a helper thread) overlaps the forward pass of the current one.

use std::sync::mpsc;

use burn::prelude::*;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::BackboneError;
use crate::backbone::Backbone;
use crate::preprocess::{InputImage, preprocess};
use crate::xray::Xray;

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
        let (sender, receiver) = mpsc::sync_channel::<Result<Vec<InputImage>, BackboneError>>(1);
        let batches: Vec<Vec<Xray>> = images
            .chunks(options.batch_size)
            .map(<[Xray]>::to_vec)
            .collect();
        let mut outputs: Vec<Vec<Tensor<4>>> = vec![Vec::new(); taps.len()];
        std::thread::scope(|scope| -> Result<(), BackboneError> {
            scope.spawn(move || {
                for batch in batches {
                    let decoded: Result<Vec<InputImage>, BackboneError> = batch
                        .par_iter()
                        .map(|x| Ok(preprocess(x.decode()?.pixels(), size, normalization)))
                        .collect();
                    let failed = decoded.is_err();
                    if sender.send(decoded).is_err() || failed {
                        break;
                    }
                }
            });
            let mut done = 0;
            for decoded in receiver {
                let inputs = decoded?;
                let n = inputs.len();
                let mut data = Vec::with_capacity(n * 3 * size * size);
                for image in inputs {
                    data.extend_from_slice(&image.data);
                }
                let input =
                    Tensor::<4>::from_data(TensorData::new(data, [n, 3, size, size]), &self.device);
                for (out, map) in outputs.iter_mut().zip(self.forward(input, &taps)?) {
                    out.push(map);
                }
                done += n;
                progress(done, total);
            }
            Ok(())
        })?;
        Ok(outputs
            .into_iter()
            .map(|maps| Tensor::cat(maps, 0))
            .collect())
    }
}
