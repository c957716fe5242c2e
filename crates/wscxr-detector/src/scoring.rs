//! From discriminator outputs to anomaly scores and maps.

use wscxr_bank::PatchFeatures;

use crate::discriminator::Discriminator;
use crate::error::DetectorError;

/// Patch anomaly scores `-D(x)` of patch features, read back in row order.
pub fn patch_scores(
    discriminator: &Discriminator,
    patches: &PatchFeatures,
) -> Result<Vec<f32>, DetectorError> {
    discriminator
        .forward(patches.rows().clone())
        .neg()
        .try_into_vec_as::<f32>()
        .map_err(|e| DetectorError::Readback {
            what: "patch scores",
            reason: format!("{e:?}"),
        })
}

/// Image scores: the maximum patch score of each image's `patches_per_image` consecutive scores.
/// A NaN patch score makes its image's score NaN: `f32::max` would drop it and report a number.
pub fn image_scores(patch_scores: &[f32], patches_per_image: usize) -> Vec<f32> {
    patch_scores
        .chunks(patches_per_image.max(1))
        .map(|image| {
            image.iter().copied().fold(f32::NEG_INFINITY, |m, s| {
                if m.is_nan() || s.is_nan() {
                    f32::NAN
                } else {
                    m.max(s)
                }
            })
        })
        .collect()
}

/// An anomaly map at image resolution: the `grid` of patch scores (row-major) upsampled bilinearly
/// (half-pixel centres, as `align_corners = false`) to `size`, then smoothed by a Gaussian of
/// `sigma` pixels (SciPy's `gaussian_filter` with `truncate = 4`, reflecting borders). For display:
/// the image score stays the grid maximum.
pub fn anomaly_map(
    grid_scores: &[f32],
    grid: [usize; 2],
    size: [usize; 2],
    sigma: f32,
) -> Vec<f32> {
    let [gh, gw] = grid;
    assert_eq!(
        grid_scores.len(),
        gh * gw,
        "grid scores do not fill the grid"
    );
    let mut map = resample_bilinear(grid_scores, grid, size);
    if sigma > 0.0 {
        gaussian_blur(&mut map, size, sigma);
    }
    map
}

/// `values` (`[h, w]`, row-major) resampled bilinearly to `[out_h, out_w]` with half-pixel
/// centres (`align_corners = false`), in f32 without clamping the values.
pub fn resample_bilinear(
    values: &[f32],
    [h, w]: [usize; 2],
    [out_h, out_w]: [usize; 2],
) -> Vec<f32> {
    let axis = |out: usize, input: usize| -> Vec<(usize, usize, f32)> {
        let scale = input as f32 / out as f32;
        (0..out)
            .map(|o| {
                let x = ((o as f32 + 0.5) * scale - 0.5).max(0.0);
                let x0 = (x.floor() as usize).min(input - 1);
                let x1 = (x0 + 1).min(input - 1);
                (x0, x1, x - x0 as f32)
            })
            .collect()
    };
    let (ys, xs) = (axis(out_h, h), axis(out_w, w));
    let mut out = Vec::with_capacity(out_h * out_w);
    for &(y0, y1, fy) in &ys {
        for &(x0, x1, fx) in &xs {
            let top = values[y0 * w + x0] * (1.0 - fx) + values[y0 * w + x1] * fx;
            let bottom = values[y1 * w + x0] * (1.0 - fx) + values[y1 * w + x1] * fx;
            out.push(top * (1.0 - fy) + bottom * fy);
        }
    }
    out
}

/// Separable Gaussian blur in place, kernel radius `round(4 sigma)`, borders reflected
/// (`d c b a | a b c d`).
fn gaussian_blur(map: &mut [f32], size: [usize; 2], sigma: f32) {
    let [h, w] = size;
    let radius = (4.0 * sigma + 0.5) as isize;
    let mut kernel: Vec<f32> = (-radius..=radius)
        .map(|i| (-0.5 * (i as f32 / sigma).powi(2)).exp())
        .collect();
    let total: f32 = kernel.iter().sum();
    kernel.iter_mut().for_each(|k| *k /= total);
    let reflect = |i: isize, n: usize| -> usize {
        let n = n as isize;
        let period = 2 * n;
        let mut i = i.rem_euclid(period);
        if i >= n {
            i = period - 1 - i;
        }
        i as usize
    };
    // Each pass adds the kernel's taps in order for a whole row at a time (the same sums, in the
    // same order, as one pixel at a time, but vectorised): a 256 px map took milliseconds.
    let taps = kernel.len();
    let mut temp = vec![0f32; h * w];
    let mut padded = vec![0f32; w + taps - 1];
    for (row, out) in map.chunks_exact(w).zip(temp.chunks_exact_mut(w)) {
        for (i, p) in padded.iter_mut().enumerate() {
            *p = row[reflect(i as isize - radius, w)];
        }
        for (k, &c) in kernel.iter().enumerate() {
            out.iter_mut()
                .zip(&padded[k..k + w])
                .for_each(|(o, &v)| *o += c * v);
        }
    }
    let rows: Vec<usize> = (0..h + taps - 1)
        .map(|i| reflect(i as isize - radius, h))
        .collect();
    for (y, out) in map.chunks_exact_mut(w).enumerate() {
        out.fill(0.0);
        for (k, &c) in kernel.iter().enumerate() {
            let src = &temp[rows[y + k] * w..][..w];
            out.iter_mut().zip(src).for_each(|(o, &v)| *o += c * v);
        }
    }
}

/// Checks that a score vector holds only finite values.
pub fn ensure_finite(scores: &[f32], what: &'static str) -> Result<(), DetectorError> {
    if scores.iter().all(|s| s.is_finite()) {
        Ok(())
    } else {
        Err(DetectorError::NonFinite(what))
    }
}
