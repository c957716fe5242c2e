//! Host-side (CPU) kernels behind the bank's functions, used when the tensors live on a CPU device.
//!
//! burn's matmul followed by a separate min-reduction streams the whole `queries x bank` product
//! through memory; these fuse the running minimum into the GEMM tiles instead (see the README's
//! nearest-neighbour benchmark for the measured difference).

use burn::prelude::*;
use rayon::prelude::*;

use crate::BankError;

/// The rows of a `[n, d]` float tensor as a host vector.
pub(crate) fn to_host(tensor: Tensor<2>, what: &'static str) -> Result<Vec<f32>, BankError> {
    tensor
        .try_into_vec_as::<f32>()
        .map_err(|e| BankError::Readback {
            what,
            reason: format!("{e:?}"),
        })
}

/// Squared L2 norms of the rows of a row-major `[n, dim]` matrix.
pub(crate) fn row_norms(rows: &[f32], dim: usize) -> Vec<f32> {
    rows.par_chunks(dim).map(|r| dot(r, r)).collect()
}

/// A dot product written so that LLVM vectorises it (16 independent accumulators).
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let (ca, ra) = a.as_chunks::<16>();
    let (cb, rb) = b.as_chunks::<16>();
    for (x, y) in ca.iter().zip(cb) {
        for i in 0..16 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// Rows of queries per tile and rows of the bank per tile: a 512 x 2048 f32 tile is 4 MiB.
const QUERY_TILE: usize = 512;

/// Exact nearest neighbour of every query row in the bank: squared L2 distance (clamped at 0) and
/// the bank row's index; ties go to the lower index.
///
/// `bank_tile` bounds the extra memory: one `QUERY_TILE x bank_tile` product at a time.
pub(crate) fn nearest(
    queries: &[f32],
    bank: &[f32],
    bank_norms: &[f32],
    dim: usize,
    bank_tile: usize,
) -> (Vec<f32>, Vec<usize>) {
    let n_queries = queries.len() / dim;
    let n_bank = bank.len() / dim;
    let mut best = vec![f32::INFINITY; n_queries];
    let mut best_index = vec![0usize; n_queries];
    let mut tile = vec![0f32; QUERY_TILE * bank_tile];
    for q0 in (0..n_queries).step_by(QUERY_TILE) {
        let qn = QUERY_TILE.min(n_queries - q0);
        let q = &queries[q0 * dim..(q0 + qn) * dim];
        for b0 in (0..n_bank).step_by(bank_tile) {
            let bn = bank_tile.min(n_bank - b0);
            let b = &bank[b0 * dim..(b0 + bn) * dim];
            let dst = &mut tile[..qn * bn];
            // SAFETY: every pointer/stride pair describes a live, correctly sized row-major buffer:
            // dst is qn x bn (row stride bn), q is qn x dim (row stride dim), and b read as its
            // transpose is dim x bn (row stride 1, column stride dim).
            unsafe {
                gemm::gemm(
                    qn,
                    bn,
                    dim,
                    dst.as_mut_ptr(),
                    1,
                    bn as isize,
                    false,
                    q.as_ptr(),
                    1,
                    dim as isize,
                    b.as_ptr(),
                    dim as isize,
                    1,
                    0.0,
                    -2.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::Rayon(0),
                );
            }
            let norms = &bank_norms[b0..b0 + bn];
            best[q0..q0 + qn]
                .par_iter_mut()
                .zip(best_index[q0..q0 + qn].par_iter_mut())
                .zip(dst.par_chunks(bn))
                .for_each(|((best, index), row)| {
                    let (value, at) = row_min(row, norms);
                    if value < *best {
                        *best = value;
                        *index = b0 + at;
                    }
                });
        }
    }
    let query_norms = row_norms(queries, dim);
    for (d, qq) in best.iter_mut().zip(query_norms) {
        *d = (*d + qq).max(0.0);
    }
    (best, best_index)
}

/// `min_j (norms[j] + row[j])` and its first index.
#[inline]
fn row_min(row: &[f32], norms: &[f32]) -> (f32, usize) {
    let mut value = f32::INFINITY;
    let mut at = 0;
    for (j, (r, n)) in row.iter().zip(norms).enumerate() {
        let d = r + n;
        if d < value {
            value = d;
            at = j;
        }
    }
    (value, at)
}
