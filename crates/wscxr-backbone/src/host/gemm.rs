//! Single-precision matrix products through the `gemm` crate (run-time AVX2 / AVX-512 kernels).

use rayon::prelude::*;

/// How a product is split across threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Threads {
    /// On the calling thread (the caller already runs tiles in parallel).
    One,
    /// Across rayon's pool.
    All,
}

/// `dst = (accumulate ? dst : 0) + a · b`, where `a` is `m x k` row-major with row stride `a_rs`,
/// `b` is `k x n` row-major and contiguous, and `dst` is `m x n` row-major with row stride `dst_rs`
/// (its other columns are left alone, so that a product can land in a slice of wider rows).
///
/// # Panics
/// When a slice is too short for the shape it is said to hold (a bug in the caller).
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    a_rs: usize,
    b: &[f32],
    dst: &mut [f32],
    dst_rs: usize,
    accumulate: bool,
    threads: Threads,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(a_rs >= k && dst_rs >= n, "row strides shorter than rows");
    assert!(b.len() >= k * n, "rhs shorter than {k} x {n}");
    assert!(a.len() >= (m - 1) * a_rs + k, "lhs shorter than {m} rows");
    assert!(
        dst.len() >= (m - 1) * dst_rs + n,
        "dst shorter than {m} rows"
    );
    if k == 0 {
        if !accumulate {
            for row in dst.chunks_mut(dst_rs).take(m) {
                row[..n].fill(0.0);
            }
        }
        return;
    }
    let workers = rayon::current_num_threads();
    if threads == Threads::All && workers > 1 && m >= 64 * workers {
        // Rows split between the workers, each product on one thread.
        let per = m.div_ceil(workers);
        let span = (m - 1) * dst_rs + n;
        dst[..span]
            .par_chunks_mut(per * dst_rs)
            .enumerate()
            .for_each(|(part, part_dst)| {
                let first = part * per;
                let rows = per.min(m - first);
                matmul(
                    rows,
                    n,
                    k,
                    &a[first * a_rs..],
                    a_rs,
                    b,
                    part_dst,
                    dst_rs,
                    accumulate,
                    Threads::One,
                );
            });
        return;
    }
    let parallelism = match threads {
        Threads::One => gemm::Parallelism::None,
        Threads::All => gemm::Parallelism::Rayon(0),
    };
    // SAFETY: the asserts above show that every element the product touches lies inside its
    // slice: dst (i, j) at i * dst_rs + j, a (i, p) at i * a_rs + p, b (p, j) at p * n + j, for
    // i < m, j < n, p < k. `dst` is a unique borrow, so it aliases neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            a.as_ptr(),
            1,
            a_rs as isize,
            b.as_ptr(),
            1,
            n as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}
