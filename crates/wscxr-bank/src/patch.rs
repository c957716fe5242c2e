//! Patch features: local average pooling of backbone maps, aligned to one grid, one row per cell.

use burn::prelude::*;
use burn::tensor::module::{adaptive_avg_pool1d, avg_pool2d, interpolate};
use burn::tensor::ops::{AvgPoolOptions, InterpolateMode, InterpolateOptions};
use serde::{Deserialize, Serialize};

use crate::BankError;

/// How feature maps become patch features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchConfig {
    /// Side of the averaging window (odd; official: 5). Stride 1, zero padding `p / 2`, padded
    /// zeros counted in the mean (PyTorch's `count_include_pad`).
    pub patch_size: usize,
    /// Reduce the channels to this many by adaptive average pooling over the channel axis
    /// (the official `MeanMapper`); `None` keeps all channels.
    pub reduce_to: Option<usize>,
}

impl Default for PatchConfig {
    fn default() -> Self {
        Self {
            patch_size: 5,
            reduce_to: None,
        }
    }
}

/// Patch features of a batch: `maps` are one or more `[N, C_i, H_i, W_i]` feature maps of the same
/// N images. Each is pooled; smaller grids are bilinearly upsampled (align_corners = false) to the
/// largest; channels are concatenated (and optionally reduced). Returns `[N * H * W, C]`, rows in
/// image order, then row-major `(h, w)`, and the grid `(H, W)`.
pub fn patch_features(
    maps: &[Tensor<4>],
    config: &PatchConfig,
) -> Result<(Tensor<2>, [usize; 2]), BankError> {
    let p = config.patch_size;
    if p == 0 || p.is_multiple_of(2) {
        return Err(BankError::InvalidParameter {
            name: "patch size",
            value: p.to_string(),
            reason: "must be odd (the window is centred on its cell)",
        });
    }
    let first = maps
        .first()
        .ok_or(BankError::Empty("the list of feature maps"))?;
    let n = first.dims()[0];
    let grid = maps
        .iter()
        .map(|m| {
            let [_, _, h, w] = m.dims();
            [h, w]
        })
        .max_by_key(|[h, w]| h * w)
        .expect("maps is not empty");
    let mut pooled = Vec::with_capacity(maps.len());
    for map in maps {
        let [batch, _, h, w] = map.dims();
        if batch != n {
            return Err(BankError::ShapeMismatch {
                what: "images per feature map",
                expected: n,
                found: batch,
            });
        }
        let options = AvgPoolOptions::new([p, p])
            .with_stride([1, 1])
            .with_padding([p / 2, p / 2])
            .with_count_include_pad(true);
        let mut x = avg_pool2d(map.clone(), options);
        if [h, w] != grid {
            x = interpolate(
                x,
                InterpolateOptions::new(InterpolateMode::Bilinear)
                    .with_align_corners(false)
                    .with_output_size(grid),
            );
        }
        pooled.push(x);
    }
    let x = Tensor::cat(pooled, 1);
    let channels = x.dims()[1];
    let rows: Tensor<2> = x
        .permute([0, 2, 3, 1])
        .reshape([n * grid[0] * grid[1], channels]);
    let rows = match config.reduce_to {
        None => rows,
        Some(0) => {
            return Err(BankError::InvalidParameter {
                name: "reduce_to",
                value: "0".into(),
                reason: "must be positive",
            });
        }
        Some(d) if d == channels => rows,
        Some(d) => {
            let r = rows.dims()[0];
            let reduced: Tensor<3> = adaptive_avg_pool1d(rows.reshape([r, 1, channels]), d);
            reduced.reshape([r, d])
        }
    };
    Ok((rows, grid))
}
