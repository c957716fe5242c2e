//! Anomaly maps at an image's own resolution, in the detector's score units, and their `.npy`
//! files.

use std::path::Path;

use npyz::WriterBuilder;
use serde::{Deserialize, Serialize};

use crate::WscxrError;

/// How a grid of patch scores becomes a picture-sized map: bilinear upsampling to the network's
/// `input_size x input_size` input, a Gaussian of `sigma` pixels there, then bilinear resampling
/// to the image's own size. The heatmaps, the `.npy` maps and (by default) the image score all
/// use the same map, so that the score and the picture agree.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MapSettings {
    /// The network's input side in pixels.
    pub input_size: usize,
    /// The Gaussian's sigma in pixels of the network input (the paper displays 4).
    pub sigma: f32,
}

/// An anomaly map: one score per pixel of an image, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct AnomalyMap {
    height: usize,
    width: usize,
    values: Vec<f32>,
}

impl AnomalyMap {
    /// A map of `height x width` row-major values; refuses a length that does not fill it.
    pub fn new(height: usize, width: usize, values: Vec<f32>) -> Result<Self, WscxrError> {
        if height == 0 || width == 0 || values.len() != height * width {
            return Err(WscxrError::invalid(
                "anomaly map",
                values.len(),
                format!("must hold {height} x {width} > 0 values"),
            ));
        }
        Ok(Self {
            height,
            width,
            values,
        })
    }

    /// The grid of patch scores `grid_scores` (`grid = [rows, columns]`, row-major) drawn as
    /// [`MapSettings`] say, at `height x width` pixels.
    pub fn from_patch_scores(
        grid_scores: &[f32],
        grid: [usize; 2],
        settings: MapSettings,
        [height, width]: [usize; 2],
    ) -> Result<Self, WscxrError> {
        let [rows, columns] = grid;
        if rows == 0 || columns == 0 || grid_scores.len() != rows * columns {
            return Err(WscxrError::invalid(
                "patch scores",
                grid_scores.len(),
                format!("do not fill a {rows} x {columns} grid"),
            ));
        }
        let side = settings.input_size;
        let square = wscxr_detector::anomaly_map(grid_scores, grid, [side, side], settings.sigma);
        if [height, width] == [side, side] {
            return Self::new(height, width, square);
        }
        if height == 0 || width == 0 || side == 0 {
            return Err(WscxrError::invalid(
                "map size",
                format!("{height} x {width} from {side} x {side}"),
                "must be positive",
            ));
        }
        Self::new(
            height,
            width,
            // `image`'s `resize` would clamp float pixels to [0, 1]; scores are neither.
            wscxr_detector::resample_bilinear(&square, [side, side], [height, width]),
        )
    }

    /// Rows.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Columns.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The scores, row-major.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// The score at row `y`, column `x`.
    pub fn at(&self, y: usize, x: usize) -> f32 {
        self.values[y * self.width + x]
    }

    /// The highest score (NaN when any score is NaN) and its `(row, column)`, the first in row
    /// order among equals.
    pub fn argmax(&self) -> (f32, [usize; 2]) {
        let mut best = (f32::NEG_INFINITY, 0);
        for (i, &v) in self.values.iter().enumerate() {
            if v.is_nan() {
                return (f32::NAN, [i / self.width, i % self.width]);
            }
            if v > best.0 {
                best = (v, i);
            }
        }
        (best.0, [best.1 / self.width, best.1 % self.width])
    }

    /// The map as a float32 NumPy array of shape `(height, width)`.
    pub fn to_npy(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(128 + 4 * self.values.len());
        let mut writer = npyz::WriteOptions::<f32>::new()
            .default_dtype()
            .shape(&[self.height as u64, self.width as u64])
            .writer(&mut bytes)
            .begin_nd()
            .expect("writing to memory cannot fail");
        writer
            .extend(self.values.iter().copied())
            .expect("writing to memory cannot fail");
        writer.finish().expect("writing to memory cannot fail");
        bytes
    }

    /// Writes [`AnomalyMap::to_npy`] to `path`.
    pub fn write_npy(&self, path: &Path) -> Result<(), WscxrError> {
        std::fs::write(path, self.to_npy()).map_err(|e| WscxrError::Data {
            path: path.into(),
            reason: format!("cannot write the anomaly map: {e}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_square_map_at_input_size_is_the_upsampled_grid() {
        let settings = MapSettings {
            input_size: 4,
            sigma: 0.0,
        };
        let map =
            AnomalyMap::from_patch_scores(&[0.0, 1.0, 2.0, 3.0], [2, 2], settings, [4, 4]).unwrap();
        assert_eq!(map.height(), 4);
        // Half-pixel centres: the corners keep the grid's values, the middle interpolates.
        assert_eq!(map.at(0, 0), 0.0);
        assert_eq!(map.at(3, 3), 3.0);
        assert_eq!(map.at(0, 1), 0.25);
        assert_eq!(map.argmax(), (3.0, [3, 3]));
    }

    #[test]
    fn a_map_is_resampled_to_the_image_aspect() {
        let settings = MapSettings {
            input_size: 8,
            sigma: 1.0,
        };
        let grid = [0.0, 0.0, 0.0, 5.0];
        let map = AnomalyMap::from_patch_scores(&grid, [2, 2], settings, [6, 12]).unwrap();
        assert_eq!((map.height(), map.width()), (6, 12));
        let (max, [y, x]) = map.argmax();
        assert!(max > 0.0 && max <= 5.0, "{max}");
        assert!(
            y >= 3 && x >= 6,
            "the maximum stays in the bottom right: {y},{x}"
        );
        assert!(
            AnomalyMap::from_patch_scores(&grid, [3, 2], settings, [6, 12]).is_err(),
            "a grid the scores do not fill"
        );
    }

    #[test]
    fn scores_outside_zero_to_one_survive_resampling() {
        let settings = MapSettings {
            input_size: 4,
            sigma: 0.0,
        };
        let map = AnomalyMap::from_patch_scores(&[-3.0, -3.0, -3.0, 7.0], [2, 2], settings, [3, 5])
            .unwrap();
        let (max, [y, x]) = map.argmax();
        assert!(max > 1.0, "not clamped to 1: {max}");
        assert_eq!([y, x], [2, 4]);
        let min = map.values().iter().copied().fold(f32::INFINITY, f32::min);
        assert_eq!(min, -3.0, "not clamped to 0");
    }

    #[test]
    fn a_nan_is_the_maximum() {
        let map = AnomalyMap::new(1, 3, vec![1.0, f32::NAN, 5.0]).unwrap();
        assert!(map.argmax().0.is_nan());
        assert!(AnomalyMap::new(2, 2, vec![0.0; 3]).is_err());
    }
}
