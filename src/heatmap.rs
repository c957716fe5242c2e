//! Pictures people look at: an X-ray with its anomaly map overlaid.

use std::path::Path;

use image::{Rgb, RgbImage};
use wscxr_backbone::{Normalization, load_image};

use crate::WscxrError;

/// A "jet"-like colour (blue, cyan, yellow, red) for `t` in [0, 1].
pub fn colour(t: f32) -> [f32; 3] {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let r = (1.5 - (4.0 * t - 3.0).abs()).clamp(0.0, 1.0);
    let g = (1.5 - (4.0 * t - 2.0).abs()).clamp(0.0, 1.0);
    let b = (1.5 - (4.0 * t - 1.0).abs()).clamp(0.0, 1.0);
    [r, g, b]
}

/// The image at `image_path`, resized to `size x size` as the network saw it, with `map`
/// (`size x size`, row-major) overlaid in colour from `low` (blue) to `high` (red).
pub fn overlay(
    image_path: &Path,
    map: &[f32],
    size: usize,
    low: f32,
    high: f32,
) -> Result<RgbImage, WscxrError> {
    if map.len() != size * size {
        return Err(WscxrError::invalid(
            "anomaly map",
            map.len(),
            format!("must hold {size} x {size} values"),
        ));
    }
    // SymmetricUnit maps gray g to g / 127.5 - 1, which is easy to invert for display.
    let input = load_image(image_path, size, Normalization::SymmetricUnit)?;
    let side = u32::try_from(size).map_err(|_| WscxrError::invalid("size", size, "too large"))?;
    let span = (high - low).max(f32::EPSILON);
    Ok(RgbImage::from_fn(side, side, |x, y| {
        let i = y as usize * size + x as usize;
        let gray = (input.data[i] + 1.0) * 0.5;
        let heat = colour((map[i] - low) / span);
        Rgb(heat.map(|h| ((0.55 * gray + 0.45 * h) * 255.0).round() as u8))
    }))
}
