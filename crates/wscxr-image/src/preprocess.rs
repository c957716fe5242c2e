//! Image files to network input: decode, copy gray to RGB, resize like PIL, normalise.
//!
//! The resize reproduces Pillow's `Image.resize(size, Image.BILINEAR)` bit for bit on 8-bit images
//! (its triangle filter widened by the scale on downscaling, i.e. antialiased, in 22-bit fixed point,
//! horizontal pass first, each pass rounded to 8 bits), because the official code and the reference
//! preprocess with Pillow and features shift measurably with a different filter. 16-bit images use the
//! same filter in floating point on values scaled to [0, 255], without the 8-bit rounding.

use std::path::Path;

use image::DynamicImage;
use serde::{Deserialize, Serialize};

use crate::ImageError;
use crate::xray::Radiograph;

/// How pixel values in [0, 255] are mapped to the network's input range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Normalization {
    /// `(x / 255 - mean) / std` with the ImageNet RGB statistics (torchvision models).
    ImageNet,
    /// `x / 127.5 - 1` (Keras applications in 'tf' mode, e.g. Xception).
    SymmetricUnit,
}

const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

impl Normalization {
    fn apply(self, value: f32, channel: usize) -> f32 {
        match self {
            Normalization::ImageNet => {
                (value / 255.0 - IMAGENET_MEAN[channel]) / IMAGENET_STD[channel]
            }
            Normalization::SymmetricUnit => value / 127.5 - 1.0,
        }
    }
}

/// A decoded, resized and normalised image: `3 x size x size` floats, channel-major (CHW).
#[derive(Debug, Clone, PartialEq)]
pub struct InputImage {
    /// Side length of the square image.
    pub size: usize,
    /// `3 * size * size` values in CHW order.
    pub data: Vec<f32>,
}

/// Reads an image file (PNG, JPEG or DICOM; 8 or 16 bit; gray, gray+alpha, RGB or RGBA) into
/// network input.
///
/// Alpha is dropped, as Pillow's `convert('RGB')` does; gray is copied to the three channels.
pub fn load_image(
    path: &Path,
    size: usize,
    normalization: Normalization,
) -> Result<InputImage, ImageError> {
    if size == 0 {
        return Err(ImageError::InvalidParameter {
            name: "image_size",
            value: "0".into(),
            reason: "must be at least 1",
        });
    }
    let radiograph = Radiograph::read(path)?;
    Ok(preprocess(radiograph.pixels(), size, normalization))
}

/// Resizes and normalises an already decoded image (see [`load_image`]).
pub fn preprocess(image: &DynamicImage, size: usize, normalization: Normalization) -> InputImage {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let horizontal = Filter::new(width, size);
    let vertical = Filter::new(height, size);
    let planes: Vec<Vec<f32>> = match image {
        DynamicImage::ImageLuma8(_) | DynamicImage::ImageLumaA8(_) => {
            let gray = image.to_luma8();
            let plane = resize_u8(gray.as_raw(), width, height, &horizontal, &vertical);
            vec![plane.clone(), plane.clone(), plane]
        }
        DynamicImage::ImageLuma16(_) | DynamicImage::ImageLumaA16(_) => {
            let gray = image.to_luma16();
            let scaled: Vec<f32> = gray.as_raw().iter().map(|&v| v as f32 / 257.0).collect();
            let plane = resize_f32(&scaled, width, height, &horizontal, &vertical);
            vec![plane.clone(), plane.clone(), plane]
        }
        DynamicImage::ImageRgb16(_) | DynamicImage::ImageRgba16(_) => {
            let rgb = image.to_rgb16();
            (0..3)
                .map(|c| {
                    let channel: Vec<f32> = rgb
                        .as_raw()
                        .iter()
                        .skip(c)
                        .step_by(3)
                        .map(|&v| v as f32 / 257.0)
                        .collect();
                    resize_f32(&channel, width, height, &horizontal, &vertical)
                })
                .collect()
        }
        _ => {
            let rgb = image.to_rgb8();
            (0..3)
                .map(|c| {
                    let channel: Vec<u8> =
                        rgb.as_raw().iter().skip(c).step_by(3).copied().collect();
                    resize_u8(&channel, width, height, &horizontal, &vertical)
                })
                .collect()
        }
    };
    let mut data = Vec::with_capacity(3 * size * size);
    for (c, plane) in planes.iter().enumerate() {
        data.extend(plane.iter().map(|&v| normalization.apply(v, c)));
    }
    InputImage { size, data }
}

/// Pillow's resampling filter along one axis: for each output pixel, the first input pixel and the
/// normalised triangle weights.
struct Filter {
    starts: Vec<usize>,
    weights: Vec<Vec<f64>>,
}

/// Pillow's fixed-point precision for 8-bit resampling (`32 - 8 - 2`).
const PRECISION_BITS: u32 = 22;

impl Filter {
    fn new(in_size: usize, out_size: usize) -> Self {
        let scale = in_size as f64 / out_size as f64;
        let filter_scale = scale.max(1.0);
        let support = filter_scale; // the bilinear (triangle) filter has support 1
        let mut starts = Vec::with_capacity(out_size);
        let mut weights = Vec::with_capacity(out_size);
        for out in 0..out_size {
            let center = (out as f64 + 0.5) * scale;
            // Pillow truncates with a C cast; the clamp makes truncation and floor agree.
            let min = ((center - support + 0.5) as i64).max(0) as usize;
            let max = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let mut row: Vec<f64> = (min..max)
                .map(|x| {
                    let t = ((x as f64 - center + 0.5) / filter_scale).abs();
                    if t < 1.0 { 1.0 - t } else { 0.0 }
                })
                .collect();
            let total: f64 = row.iter().sum();
            if total != 0.0 {
                row.iter_mut().for_each(|w| *w /= total);
            }
            starts.push(min);
            weights.push(row);
        }
        Filter { starts, weights }
    }

    fn is_identity(&self, in_size: usize) -> bool {
        self.starts.len() == in_size
    }

    fn fixed_point(&self) -> Vec<Vec<i64>> {
        let one = (1i64 << PRECISION_BITS) as f64;
        self.weights
            .iter()
            .map(|row| {
                row.iter()
                    .map(|&w| {
                        if w < 0.0 {
                            (-0.5 + w * one) as i64
                        } else {
                            (0.5 + w * one) as i64
                        }
                    })
                    .collect()
            })
            .collect()
    }
}

fn clip8(acc: i64) -> u8 {
    if acc >= (1i64 << PRECISION_BITS << 8) {
        255
    } else if acc <= 0 {
        0
    } else {
        (acc >> PRECISION_BITS) as u8
    }
}

/// One 8-bit plane through Pillow's two passes; the result is returned as floats in [0, 255].
fn resize_u8(
    plane: &[u8],
    width: usize,
    height: usize,
    horizontal: &Filter,
    vertical: &Filter,
) -> Vec<f32> {
    let out_w = horizontal.starts.len();
    let out_h = vertical.starts.len();
    let round = 1i64 << (PRECISION_BITS - 1);
    let temp: Vec<u8> = if horizontal.is_identity(width) {
        plane.to_vec()
    } else {
        let kernel = horizontal.fixed_point();
        let mut temp = vec![0u8; out_w * height];
        for y in 0..height {
            let row = &plane[y * width..(y + 1) * width];
            for x in 0..out_w {
                let start = horizontal.starts[x];
                let acc = kernel[x]
                    .iter()
                    .enumerate()
                    .fold(round, |acc, (i, &k)| acc + row[start + i] as i64 * k);
                temp[y * out_w + x] = clip8(acc);
            }
        }
        temp
    };
    if vertical.is_identity(height) {
        return temp.iter().map(|&v| v as f32).collect();
    }
    let kernel = vertical.fixed_point();
    let mut out = vec![0f32; out_w * out_h];
    for y in 0..out_h {
        let start = vertical.starts[y];
        for x in 0..out_w {
            let acc = kernel[y].iter().enumerate().fold(round, |acc, (i, &k)| {
                acc + temp[(start + i) * out_w + x] as i64 * k
            });
            out[y * out_w + x] = clip8(acc) as f32;
        }
    }
    out
}

/// One plane of floats through the same filter, without intermediate rounding (16-bit sources).
fn resize_f32(
    plane: &[f32],
    width: usize,
    height: usize,
    horizontal: &Filter,
    vertical: &Filter,
) -> Vec<f32> {
    let out_w = horizontal.starts.len();
    let out_h = vertical.starts.len();
    let mut temp = vec![0f32; out_w * height];
    for y in 0..height {
        for x in 0..out_w {
            let start = horizontal.starts[x];
            temp[y * out_w + x] = horizontal.weights[x]
                .iter()
                .enumerate()
                .map(|(i, &k)| plane[y * width + start + i] as f64 * k)
                .sum::<f64>() as f32;
        }
    }
    let mut out = vec![0f32; out_w * out_h];
    for y in 0..out_h {
        let start = vertical.starts[y];
        for x in 0..out_w {
            out[y * out_w + x] = vertical.weights[y]
                .iter()
                .enumerate()
                .map(|(i, &k)| temp[(start + i) * out_w + x] as f64 * k)
                .sum::<f64>() as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_weights_sum_to_one_and_stay_in_bounds() {
        for (input, output) in [(224, 256), (256, 224), (1, 256), (1000, 7), (5, 5)] {
            let filter = Filter::new(input, output);
            assert_eq!(filter.starts.len(), output);
            for (start, row) in filter.starts.iter().zip(&filter.weights) {
                assert!(start + row.len() <= input);
                let total: f64 = row.iter().sum();
                assert!((total - 1.0).abs() < 1e-9, "{input}->{output}: {total}");
            }
        }
    }

    #[test]
    fn constant_image_stays_constant() {
        let image =
            DynamicImage::ImageLuma8(image::GrayImage::from_pixel(37, 53, image::Luma([200])));
        let input = preprocess(&image, 16, Normalization::SymmetricUnit);
        let expected = 200.0 / 127.5 - 1.0;
        assert!(input.data.iter().all(|&v| (v - expected).abs() < 1e-6));
    }
}
