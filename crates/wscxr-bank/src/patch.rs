//! Patch features: local average pooling of backbone maps, aligned to one grid, one row per cell.

use burn::prelude::*;
use burn::tensor::module::{adaptive_avg_pool1d, avg_pool2d, interpolate};
use burn::tensor::ops::{AvgPoolOptions, InterpolateMode, InterpolateOptions};
use serde::{Deserialize, Serialize};

use crate::BankError;

/// The largest patch window [`PatchConfig::check`] accepts.
pub const MAX_PATCH_SIZE: usize = 63;
/// The widest channel reduction [`PatchConfig::check`] accepts.
pub const MAX_REDUCED_DIM: usize = 65536;

/// How feature maps become patch features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PatchConfig {
    /// Side of the averaging window (odd; official: 5). Stride 1, zero padding `p / 2`, padded
    /// zeros counted in the mean (PyTorch's `count_include_pad`).
    pub patch_size: usize,
    /// Reduce the channels to this many by adaptive average pooling over the channel axis
    /// (the official `MeanMapper`); `None` keeps all channels.
    pub reduce_to: Option<usize>,
}

impl PatchConfig {
    /// Rejects a window that is even or zero and a channel reduction to zero, before any work.
    pub fn check(&self) -> Result<(), BankError> {
        if self.patch_size == 0 || self.patch_size.is_multiple_of(2) {
            return Err(BankError::InvalidParameter {
                name: "patch_size",
                value: self.patch_size.to_string(),
                reason: "must be odd (the window is centred on its cell)",
            });
        }
        if self.patch_size > MAX_PATCH_SIZE {
            return Err(BankError::InvalidParameter {
                name: "patch_size",
                value: self.patch_size.to_string(),
                reason: "must be at most 63 (the window's zero padding is allocated)",
            });
        }
        match self.reduce_to {
            Some(0) => Err(BankError::InvalidParameter {
                name: "reduce_to",
                value: "0".into(),
                reason: "must be positive",
            }),
            Some(d) if d > MAX_REDUCED_DIM => Err(BankError::InvalidParameter {
                name: "reduce_to",
                value: d.to_string(),
                reason: "must be at most 65536",
            }),
            _ => Ok(()),
        }
    }
}

impl Default for PatchConfig {
    fn default() -> Self {
        Self {
            patch_size: 5,
            reduce_to: None,
        }
    }
}

/// The patch features of a batch of images: one row per cell of every image's feature grid.
/// Built only through [`PatchFeatures::new`] (or [`patch_features`]), so the grid has cells and
/// the rows are a whole number of images:
///
/// ```compile_fail
/// // The fields are private: no grid of no cells past the constructor's check.
/// fn bypass(features: wscxr_bank::PatchFeatures) -> wscxr_bank::PatchFeatures {
///     wscxr_bank::PatchFeatures { grid: [0, 0], ..features }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct PatchFeatures {
    /// `[images * grid_h * grid_w, d]`, rows in image order, then row-major `(h, w)`.
    rows: Tensor<2>,
    /// The feature grid `(grid_h, grid_w)` every image shares.
    grid: [usize; 2],
}

impl PatchFeatures {
    /// Wraps `rows` of images sharing `grid`; the row count must be a whole number of images.
    pub fn new(rows: Tensor<2>, grid: [usize; 2]) -> Result<Self, BankError> {
        let [n, _] = rows.dims();
        let per_image = grid[0] * grid[1];
        if per_image == 0 || !n.is_multiple_of(per_image) {
            return Err(BankError::ShapeMismatch {
                what: "patch rows (a multiple of the grid's cells)",
                expected: per_image,
                found: n,
            });
        }
        Ok(Self { rows, grid })
    }

    /// The rows, `[images * grid_h * grid_w, d]`: image order, then row-major `(h, w)`.
    pub fn rows(&self) -> &Tensor<2> {
        &self.rows
    }

    /// The rows, by value.
    pub fn into_rows(self) -> Tensor<2> {
        self.rows
    }

    /// The feature grid `(grid_h, grid_w)` every image shares.
    pub fn grid(&self) -> [usize; 2] {
        self.grid
    }

    /// Patches of one image (the grid's cells).
    pub fn per_image(&self) -> usize {
        self.grid[0] * self.grid[1]
    }

    /// How many images the rows belong to.
    pub fn images(&self) -> usize {
        self.rows.dims()[0] / self.per_image()
    }

    /// Feature dimension d.
    pub fn dim(&self) -> usize {
        self.rows.dims()[1]
    }

    /// The features of the images at `images` (indices into this batch), in that order.
    pub fn select_images(&self, images: &[usize]) -> Self {
        let per_image = self.per_image();
        let index: Vec<i64> = images
            .iter()
            .flat_map(|&i| (i * per_image..(i + 1) * per_image).map(|r| r as i64))
            .collect();
        let count = index.len();
        let index =
            Tensor::<1, Int>::from_data(TensorData::new(index, [count]), &self.rows.device());
        Self {
            rows: self.rows.clone().select(0, index),
            grid: self.grid,
        }
    }
}

/// Patch features of a batch: `maps` are one or more `[N, C_i, H_i, W_i]` feature maps of the same
/// N images. Each is pooled; smaller grids are bilinearly upsampled (align_corners = false) to the
/// largest; channels are concatenated (and optionally reduced).
pub fn patch_features(
    maps: &[Tensor<4>],
    config: &PatchConfig,
) -> Result<PatchFeatures, BankError> {
    config.check()?;
    let p = config.patch_size;
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
        Some(d) if d == channels => rows,
        Some(d) => {
            let r = rows.dims()[0];
            let reduced: Tensor<3> = adaptive_avg_pool1d(rows.reshape([r, 1, channels]), d);
            reduced.reshape([r, d])
        }
    };
    Ok(PatchFeatures { rows, grid })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_of_no_cells_or_part_of_an_image_are_refused() {
        let device = Device::flex();
        let rows = || Tensor::<2>::ones([8, 3], &device);
        assert!(PatchFeatures::new(rows(), [0, 0]).is_err());
        assert!(PatchFeatures::new(rows(), [0, 4]).is_err());
        assert!(
            PatchFeatures::new(rows(), [3, 1]).is_err(),
            "8 rows are not whole 3-cell images"
        );
        let features = PatchFeatures::new(rows(), [2, 2]).unwrap();
        assert_eq!(
            (features.images(), features.per_image(), features.dim()),
            (2, 4, 3)
        );
        assert_eq!(features.grid(), [2, 2]);
        assert_eq!(features.select_images(&[1]).rows().dims(), [4, 3]);
    }
}
