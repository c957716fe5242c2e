//! Conversions between burn's NCHW tensors and the host path's channels-last (NHWC) buffers.

use rayon::prelude::*;

/// `[n, c, h, w]` to `[n, h, w, c]`.
pub(crate) fn nchw_to_nhwc(src: &[f32], n: usize, c: usize, h: usize, w: usize, out: &mut [f32]) {
    let plane = h * w;
    debug_assert_eq!(out.len(), n * plane * c);
    out.par_chunks_mut(w * c)
        .enumerate()
        .for_each(|(row, out_row)| {
            let (b, y) = (row / h, row % h);
            for (x, pixel) in out_row.chunks_exact_mut(c).enumerate() {
                for (ch, v) in pixel.iter_mut().enumerate() {
                    *v = src[(b * c + ch) * plane + y * w + x];
                }
            }
        });
}

/// The first `c` channels of `[n, h, w, stride]` rows to `[n, c, h, w]`.
pub(crate) fn nhwc_to_nchw(
    src: &[f32],
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    stride: usize,
) -> Vec<f32> {
    let plane = h * w;
    let mut out = vec![0f32; n * c * plane];
    out.par_chunks_mut(plane)
        .enumerate()
        .for_each(|(i, out_plane)| {
            let (b, ch) = (i / c, i % c);
            let base = b * plane * stride + ch;
            for (p, v) in out_plane.iter_mut().enumerate() {
                *v = src[base + p * stride];
            }
        });
    out
}
