//! Feature-bank kernels on the default CPU backend (flex):
//! - exact nearest-neighbour search at the official scale (2,048 queries x 16,000 bank x 1,024)
//!   and a large one (16,384 x 262,144 x 1,024), next to a plain f32 GEMM of the same shape run in
//!   the same process (the machine's practical peak); throughput in "elements" = multiply-adds, so
//!   criterion's elem/s x 2 is FLOP/s;
//! - greedy coreset selection of 16,000 of 32,000 rows (1,024-d).
//!
//! `cargo bench --bench bank` (set `WSCXR_BENCH_LARGE=0` to skip the large scale).

use burn::prelude::*;
use burn::tensor::Distribution;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wscxr::bank::{CoresetConfig, CoresetSize, NormalBank, SearchConfig, greedy_coreset};

fn rows(n: usize, d: usize, device: &Device) -> Tensor<2> {
    Tensor::random([n, d], Distribution::Normal(0.0, 1.0), device)
}

/// `queries x bank^T` with the gemm crate on host buffers: the reference rate.
fn plain_gemm(q: &[f32], b: &[f32], out: &mut [f32], m: usize, n: usize, k: usize) {
    // SAFETY: q is m x k, b is n x k (read transposed as k x n), out is m x n; all row-major and
    // exactly that size.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            q.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
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

fn nearest(c: &mut Criterion) {
    let device = Device::flex();
    let large = std::env::var("WSCXR_BENCH_LARGE")
        .map(|v| v != "0")
        .unwrap_or(true);
    let mut scales = vec![("official", 2048usize, 16_000usize)];
    if large {
        scales.push(("large", 16_384, 262_144));
    }
    let d = 1024;
    for (name, nq, nb) in scales {
        let mut group = c.benchmark_group(format!("nn/{name}"));
        group.sample_size(10);
        group.throughput(Throughput::Elements((nq * nb * d) as u64));
        let queries = rows(nq, d, &device);
        let bank = NormalBank::new(rows(nb, d, &device)).unwrap();
        group.bench_function("nearest", |b| {
            b.iter(|| bank.nearest(&queries, &SearchConfig::default()).unwrap())
        });
        // The GEMM reference on tiles of the same size the search uses, so its memory stays bounded.
        let q = queries.clone().try_into_vec_as::<f32>().unwrap();
        let tile_rows = 4096.min(nb);
        let b_tile = rows(tile_rows, d, &device)
            .try_into_vec_as::<f32>()
            .unwrap();
        let mut out = vec![0f32; nq.min(512) * tile_rows];
        group.bench_function("gemm", |bencher| {
            bencher.iter(|| {
                for q0 in (0..nq).step_by(512) {
                    let qn = 512.min(nq - q0);
                    for _ in (0..nb).step_by(tile_rows) {
                        plain_gemm(
                            &q[q0 * d..(q0 + qn) * d],
                            &b_tile,
                            &mut out[..qn * tile_rows],
                            qn,
                            tile_rows,
                            d,
                        );
                    }
                }
            })
        });
        group.finish();
    }
}

fn coreset(c: &mut Criterion) {
    let device = Device::flex();
    let features = rows(32_000, 1024, &device);
    let mut group = c.benchmark_group("coreset");
    group.sample_size(10);
    group.bench_function("16000_of_32000", |b| {
        b.iter(|| {
            greedy_coreset(
                &features,
                &CoresetConfig {
                    size: CoresetSize::Count(16_000),
                    ..CoresetConfig::default()
                },
            )
            .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, nearest, coreset);
criterion_main!(benches);
