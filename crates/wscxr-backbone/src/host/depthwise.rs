//! Direct depthwise 3x3 convolution, stride 1, zero padding 1, on channels-last maps: every output
//! pixel is nine multiply-adds over contiguous channel vectors, ReLU of the input applied as it is
//! loaded (Xception's separable convolutions all follow a ReLU).

use rayon::prelude::*;

use super::simd::simd_kernel;

/// `out = depthwise3x3(relu_input ? relu(x) : x)`, `x` and `out` `[n, h, w, c]`, `weight` `[9][c]`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn depthwise3x3(
    x: &[f32],
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    weight: &[f32],
    relu_input: bool,
    out: &mut [f32],
) {
    let image = h * w * c;
    out[..n * image]
        .par_chunks_mut(w * c)
        .enumerate()
        .for_each(|(row, out_row)| {
            let (b, y) = (row / h, row % h);
            let src = &x[b * image..(b + 1) * image];
            depthwise_row(src, h, w, c, y, weight, relu_input, out_row);
        });
}

/// The depthwise output of whole image rows: pixels `p0 .. p1` of the batch (multiples of `w`)
/// into `out` (`[p1 - p0, c]`), for [`super::pointwise::Pointwise::run_fused`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn depthwise3x3_rows(
    x: &[f32],
    h: usize,
    w: usize,
    c: usize,
    weight: &[f32],
    relu_input: bool,
    p0: usize,
    p1: usize,
    out: &mut [f32],
) {
    let image = h * w * c;
    for (i, out_row) in out.chunks_exact_mut(w * c).enumerate().take((p1 - p0) / w) {
        let row = p0 / w + i;
        let (b, y) = (row / h, row % h);
        depthwise_row(
            &x[b * image..(b + 1) * image],
            h,
            w,
            c,
            y,
            weight,
            relu_input,
            out_row,
        );
    }
}

simd_kernel! {
    #[allow(clippy::too_many_arguments)]
    fn depthwise_row(src: &[f32], h: usize, w: usize, c: usize, y: usize, weight: &[f32], relu_input: bool, out: &mut [f32]) => depthwise_row_body
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn depthwise_row_body(
    src: &[f32],
    h: usize,
    w: usize,
    c: usize,
    y: usize,
    weight: &[f32],
    relu_input: bool,
    out: &mut [f32],
) {
    for (x, o) in out.chunks_exact_mut(c).enumerate().take(w) {
        o.fill(0.0);
        for dy in 0..3 {
            let Some(iy) = (y + dy).checked_sub(1).filter(|&iy| iy < h) else {
                continue;
            };
            for dx in 0..3 {
                let Some(ix) = (x + dx).checked_sub(1).filter(|&ix| ix < w) else {
                    continue;
                };
                let at = (iy * w + ix) * c;
                let input = &src[at..at + c];
                let k = &weight[(dy * 3 + dx) * c..(dy * 3 + dx + 1) * c];
                if relu_input {
                    for ((o, &v), &k) in o.iter_mut().zip(input).zip(k) {
                        // `v < 0` rather than `max`: a NaN input stays NaN.
                        *o += if v < 0.0 { 0.0 } else { v } * k;
                    }
                } else {
                    for ((o, &v), &k) in o.iter_mut().zip(input).zip(k) {
                        *o += v * k;
                    }
                }
            }
        }
    }
}
