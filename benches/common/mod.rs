//! The reference every nearest-neighbour benchmark is compared with: a plain f32 GEMM.

/// `out = queries x bank_tile^T` with the gemm crate, on row-major host buffers: `queries` is
/// `m x k`, `bank_tile` is `n x k`, `out` is `m x n`.
pub fn plain_gemm(
    queries: &[f32],
    bank_tile: &[f32],
    out: &mut [f32],
    m: usize,
    n: usize,
    k: usize,
) {
    assert!(queries.len() >= m * k && bank_tile.len() >= n * k && out.len() >= m * n);
    // SAFETY: the assertion above guarantees every buffer holds the rows the strides address.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            queries.as_ptr(),
            1,
            k as isize,
            bank_tile.as_ptr(),
            k as isize,
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::Rayon(0),
        );
    }
}

/// Runs the GEMM over `queries` (`nq x d`) against `nb` bank rows, one 512 x `tile` block at a time
/// (the same blocking as the search, so memory stays bounded); the bank tile is reused.
pub fn gemm_over(
    queries: &[f32],
    bank_tile: &[f32],
    out: &mut [f32],
    nq: usize,
    nb: usize,
    d: usize,
) {
    let tile = bank_tile.len() / d;
    for q0 in (0..nq).step_by(512) {
        let qn = 512.min(nq - q0);
        for _ in (0..nb).step_by(tile) {
            plain_gemm(
                &queries[q0 * d..],
                bank_tile,
                &mut out[..qn * tile],
                qn,
                tile,
                d,
            );
        }
    }
}
