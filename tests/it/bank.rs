//! The feature bank against brute-force computations on small random data.

use burn::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wscxr::bank::*;

use crate::common::*;

fn random(rng: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

fn tensor<const D: usize>(data: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(data, shape), device)
}

/// Rows as the patch features of one image per row.
fn rows_of(rows: Tensor<2>) -> PatchFeatures {
    PatchFeatures::new(rows, [1, 1]).unwrap()
}

/// Devices to run the bank on: the CPU ones (host kernels) and, in builds with the `wgpu`
/// feature, wgpu (burn tensor kernels), whose absence fails the test unless opted out.
#[track_caller]
fn devices() -> Vec<(&'static str, Device)> {
    let mut all = cpu_devices();
    if cfg!(feature = "wgpu")
        && let Some(gpu) = gpu_device()
    {
        all.push(("wgpu", gpu));
    }
    all
}

fn brute_pool(map: &[f32], [n, c, h, w]: [usize; 4], p: usize) -> Vec<f32> {
    let r = (p / 2) as isize;
    let mut out = vec![0f32; map.len()];
    for b in 0..n {
        for ch in 0..c {
            for y in 0..h as isize {
                for x in 0..w as isize {
                    let mut sum = 0.0;
                    for dy in -r..=r {
                        for dx in -r..=r {
                            let (yy, xx) = (y + dy, x + dx);
                            if yy >= 0 && yy < h as isize && xx >= 0 && xx < w as isize {
                                sum += map[((b * c + ch) * h + yy as usize) * w + xx as usize];
                            }
                        }
                    }
                    out[((b * c + ch) * h + y as usize) * w + x as usize] = sum / (p * p) as f32;
                }
            }
        }
    }
    out
}

#[test]
fn patch_features_pool_with_zero_padding_counted() {
    let mut rng = StdRng::seed_from_u64(1);
    let shape = [2, 3, 6, 7];
    let map = random(&mut rng, shape.iter().product());
    for p in [3, 5] {
        let expected = brute_pool(&map, shape, p);
        for (label, device) in devices() {
            let features = patch_features(
                &[tensor(map.clone(), shape, &device)],
                &PatchConfig {
                    patch_size: p,
                    reduce_to: None,
                },
            )
            .unwrap();
            assert_eq!(features.grid(), [6, 7]);
            assert_eq!((features.images(), features.per_image()), (2, 42));
            let rows = features.rows().clone().try_into_vec_as::<f32>().unwrap();
            // rows are (image, y, x) major with channels inside.
            for b in 0..2 {
                for y in 0..6 {
                    for x in 0..7 {
                        for c in 0..3 {
                            let got = rows[((b * 6 + y) * 7 + x) * 3 + c];
                            let want = expected[((b * 3 + c) * 6 + y) * 7 + x];
                            assert!(
                                (got - want).abs() < 1e-5,
                                "{label} p={p} ({b},{c},{y},{x}): {got} vs {want}"
                            );
                        }
                    }
                }
            }
        }
    }
    let err = patch_features(
        &[Tensor::<4>::zeros([1, 1, 2, 2], &Device::flex())],
        &PatchConfig {
            patch_size: 4,
            reduce_to: None,
        },
    );
    assert!(matches!(err, Err(BankError::InvalidParameter { .. })));
}

/// A coarse map is bilinearly upsampled (half-pixel centres) to the fine grid before concatenation.
#[test]
fn patch_features_align_grids_bilinearly() {
    let mut rng = StdRng::seed_from_u64(2);
    let fine = random(&mut rng, 2 * 4 * 4);
    let coarse = random(&mut rng, 3 * 2 * 2);
    let device = Device::flex();
    let config = PatchConfig {
        patch_size: 1,
        reduce_to: None,
    };
    let features = patch_features(
        &[
            tensor(fine.clone(), [1, 2, 4, 4], &device),
            tensor(coarse.clone(), [1, 3, 2, 2], &device),
        ],
        &config,
    )
    .unwrap();
    assert_eq!(features.grid(), [4, 4]);
    assert_eq!(features.rows().dims(), [16, 5]);
    let rows = features.rows().clone().try_into_vec_as::<f32>().unwrap();
    let sample = |c: usize, y: usize, x: usize| {
        // align_corners = false: source coordinate (o + 0.5) * 2 / 4 - 0.5, clamped at the borders.
        let src = |o: usize| ((o as f32 + 0.5) * 0.5 - 0.5).clamp(0.0, 1.0);
        let (sy, sx) = (src(y), src(x));
        let (y0, x0) = (sy.floor() as usize, sx.floor() as usize);
        let (y1, x1) = ((y0 + 1).min(1), (x0 + 1).min(1));
        let (fy, fx) = (sy - y0 as f32, sx - x0 as f32);
        let at = |yy: usize, xx: usize| coarse[(c * 2 + yy) * 2 + xx];
        (at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx) * (1.0 - fy)
            + (at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx) * fy
    };
    for y in 0..4 {
        for x in 0..4 {
            let row = &rows[(y * 4 + x) * 5..(y * 4 + x + 1) * 5];
            for c in 0..2 {
                assert!((row[c] - fine[(c * 4 + y) * 4 + x]).abs() < 1e-6);
            }
            for c in 0..3 {
                assert!(
                    (row[2 + c] - sample(c, y, x)).abs() < 1e-5,
                    "({y},{x}) c{c}: {} vs {}",
                    row[2 + c],
                    sample(c, y, x)
                );
            }
        }
    }
}

#[test]
fn channel_reduction_averages_adjacent_channels() {
    let device = Device::flex();
    let map: Vec<f32> = (0..6).map(|c| c as f32).flat_map(|v| [v; 4]).collect();
    let features = patch_features(
        &[tensor(map, [1, 6, 2, 2], &device)],
        &PatchConfig {
            patch_size: 1,
            reduce_to: Some(3),
        },
    )
    .unwrap();
    let rows = features.rows().clone().try_into_vec_as::<f32>().unwrap();
    assert_eq!(&rows[..3], &[0.5, 2.5, 4.5]);
}

fn brute_nearest(q: &[f32], b: &[f32], d: usize) -> (Vec<f32>, Vec<usize>) {
    q.chunks(d)
        .map(|qr| {
            b.chunks(d)
                .map(|br| {
                    qr.iter()
                        .zip(br)
                        .map(|(x, y)| ((x - y) as f64).powi(2))
                        .sum::<f64>()
                })
                .enumerate()
                .fold((f64::INFINITY, 0), |best, (j, dist)| {
                    if dist < best.0 { (dist, j) } else { best }
                })
        })
        .map(|(dist, j)| (dist as f32, j))
        .unzip()
}

#[test]
fn nearest_neighbours_are_exact() {
    let mut rng = StdRng::seed_from_u64(3);
    let (nq, nb, d) = (700, 1300, 37);
    let q = random(&mut rng, nq * d);
    let b = random(&mut rng, nb * d);
    let (want_d, want_i) = brute_nearest(&q, &b, d);
    for (label, device) in devices() {
        let bank = NormalBank::new(tensor(b.clone(), [nb, d], &device)).unwrap();
        for chunk_rows in [128, 4096] {
            let got = bank
                .nearest(
                    &tensor(q.clone(), [nq, d], &device),
                    &SearchConfig { chunk_rows },
                )
                .unwrap();
            assert_eq!(got.indices, want_i, "{label} chunk {chunk_rows}");
            for (g, w) in got.squared_distances.iter().zip(&want_d) {
                assert!((g - w).abs() <= 1e-4 * w.max(1.0), "{label}: {g} vs {w}");
            }
        }
    }
    // A query that is a bank row is at distance 0 (clamped, never negative).
    let device = Device::flex();
    let bank = NormalBank::new(tensor(b.clone(), [nb, d], &device)).unwrap();
    let got = bank
        .nearest(
            &tensor(b[5 * d..6 * d].to_vec(), [1, d], &device),
            &SearchConfig::default(),
        )
        .unwrap();
    assert_eq!(got.indices, vec![5]);
    assert!(got.squared_distances[0] >= 0.0 && got.squared_distances[0] < 1e-4);
}

#[test]
fn nearest_rejects_bad_inputs() {
    let device = Device::flex();
    assert!(matches!(
        NormalBank::new(Tensor::<2>::zeros([0, 4], &device)),
        Err(BankError::Empty(_))
    ));
    let mut nan = vec![0.0f32; 8];
    nan[3] = f32::NAN;
    assert!(matches!(
        NormalBank::new(tensor(nan.clone(), [2, 4], &device)),
        Err(BankError::NonFinite(_))
    ));
    let bank = NormalBank::new(Tensor::<2>::ones([3, 4], &device)).unwrap();
    let err = bank
        .nearest(
            &Tensor::<2>::ones([2, 5], &device),
            &SearchConfig::default(),
        )
        .unwrap_err();
    assert!(matches!(
        err,
        BankError::ShapeMismatch {
            expected: 4,
            found: 5,
            ..
        }
    ));
    let err = bank
        .nearest(&tensor(nan, [2, 4], &device), &SearchConfig::default())
        .unwrap_err();
    assert!(matches!(err, BankError::NonFinite(_)));
}

/// With no starting points and no projection, the coreset is plain farthest-point sampling from
/// row 0: each pick maximises the distance to the closest row picked so far.
#[test]
fn coreset_follows_the_greedy_rule() {
    let mut rng = StdRng::seed_from_u64(4);
    let (n, d) = (300, 6);
    let x = random(&mut rng, n * d);
    let config = CoresetConfig {
        size: CoresetSize::Count(40),
        projection_dim: 128,
        starting_points: 0,
    };
    let got = greedy_coreset(&tensor(x.clone(), [n, d], &Device::flex()), &config, 0).unwrap();
    let dist = |a: usize, b: usize| -> f64 {
        (0..d)
            .map(|k| ((x[a * d + k] - x[b * d + k]) as f64).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    let mut want = vec![0usize];
    let mut min_d: Vec<f64> = (0..n).map(|i| dist(i, 0)).collect();
    while want.len() < 40 {
        let next = (0..n)
            .filter(|i| !want.contains(i))
            .max_by(|&a, &b| min_d[a].total_cmp(&min_d[b]).then(b.cmp(&a)))
            .unwrap();
        want.push(next);
        for (i, m) in min_d.iter_mut().enumerate() {
            *m = m.min(dist(i, next));
        }
    }
    assert_eq!(got, want);
}

#[test]
fn coreset_is_deterministic_per_seed_and_sized_as_asked() {
    let mut rng = StdRng::seed_from_u64(5);
    let (n, d) = (500, 200);
    let features = tensor(random(&mut rng, n * d), [n, d], &Device::flex());
    let config = CoresetConfig::default();
    let a = greedy_coreset(&features, &config, 0).unwrap();
    let b = greedy_coreset(&features, &config, 0).unwrap();
    let c = greedy_coreset(&features, &config, 1).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(a.len(), 250);
    let mut unique = a.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 250, "indices must be distinct");
    assert_eq!(
        greedy_coreset(
            &features,
            &CoresetConfig {
                size: CoresetSize::Count(17),
                ..config
            },
            0
        )
        .unwrap()
        .len(),
        17
    );
    assert!(
        greedy_coreset(
            &features,
            &CoresetConfig {
                size: CoresetSize::Fraction(1.5),
                ..config
            },
            0
        )
        .is_err()
    );
    assert!(
        greedy_coreset(
            &features,
            &CoresetConfig {
                size: CoresetSize::Count(501),
                ..config
            },
            0
        )
        .is_err()
    );
}

#[test]
fn mining_keeps_exactly_the_top_r_farthest_rows() {
    let mut rng = StdRng::seed_from_u64(6);
    let (na, nb, d) = (203, 400, 9);
    let a = random(&mut rng, na * d);
    let b = random(&mut rng, nb * d);
    let (dist, _) = brute_nearest(&a, &b, d);
    let mut order: Vec<usize> = (0..na).collect();
    order.sort_by(|&x, &y| dist[y].total_cmp(&dist[x]).then(x.cmp(&y)));
    let keep = (na as f64 * 0.2).floor() as usize;
    for (label, device) in devices() {
        let bank = NormalBank::new(tensor(b.clone(), [nb, d], &device)).unwrap();
        let protos = mine_prototypes(
            &rows_of(tensor(a.clone(), [na, d], &device)),
            &bank,
            0.2,
            &SearchConfig::default(),
        )
        .unwrap();
        assert_eq!(protos.indices, order[..keep].to_vec(), "{label}");
        assert_eq!(protos.rows.dims(), [keep, d]);
        let rows = protos.rows.try_into_vec_as::<f32>().unwrap();
        assert_eq!(&rows[..d], &a[order[0] * d..(order[0] + 1) * d]);
    }
    let device = Device::flex();
    let bank = NormalBank::new(tensor(b, [nb, d], &device)).unwrap();
    assert!(
        mine_prototypes(
            &rows_of(tensor(a.clone(), [na, d], &device)),
            &bank,
            0.0,
            &SearchConfig::default()
        )
        .is_err()
    );
    assert!(
        mine_prototypes(
            &rows_of(tensor(a[..2 * d].to_vec(), [2, d], &device)),
            &bank,
            0.2,
            &SearchConfig::default()
        )
        .is_err()
    );
}

#[test]
fn mixing_makes_convex_combinations_with_alpha_in_range() {
    let mut rng = StdRng::seed_from_u64(7);
    let (k, n, d) = (5, 400, 8);
    let protos = random(&mut rng, k * d);
    let normals = random(&mut rng, n * d);
    for (label, device) in devices() {
        let mut mixer = LinearMixer::new(tensor(protos.clone(), [k, d], &device), 11).unwrap();
        let fakes = mixer
            .mix(&tensor(normals.clone(), [n, d], &device))
            .unwrap()
            .try_into_vec_as::<f32>()
            .unwrap();
        let mut alphas = Vec::new();
        for i in 0..n {
            let nrow = &normals[i * d..(i + 1) * d];
            let frow = &fakes[i * d..(i + 1) * d];
            // For some prototype p: fake - normal = a (p - normal) with a in [0.1, 1).
            let found = (0..k).find_map(|j| {
                let prow = &protos[j * d..(j + 1) * d];
                let num: f32 = (0..d)
                    .map(|t| (frow[t] - nrow[t]) * (prow[t] - nrow[t]))
                    .sum();
                let den: f32 = (0..d).map(|t| (prow[t] - nrow[t]).powi(2)).sum();
                let a = num / den;
                let residual = (0..d)
                    .map(|t| (frow[t] - nrow[t] - a * (prow[t] - nrow[t])).abs())
                    .fold(0f32, nan_max);
                (residual < 1e-5).then_some(a)
            });
            let a = found.unwrap_or_else(|| {
                panic!("{label}: row {i} is not a mix of a prototype and its normal")
            });
            assert!((0.1 - 1e-5..1.0 + 1e-5).contains(&a), "{label}: a = {a}");
            alphas.push(a);
        }
        let mean = alphas.iter().sum::<f32>() / n as f32;
        assert!((mean - 0.55).abs() < 0.05, "{label}: mean a {mean}");
        // Same seed, same fakes.
        let mut again = LinearMixer::new(tensor(protos.clone(), [k, d], &device), 11).unwrap();
        let fakes2 = again
            .mix(&tensor(normals.clone(), [n, d], &device))
            .unwrap()
            .try_into_vec_as::<f32>()
            .unwrap();
        assert_eq!(fakes, fakes2);
    }
    let device = Device::flex();
    let mut off =
        LinearMixer::with_min_alpha(tensor(protos.clone(), [k, d], &device), 1.0, 0).unwrap();
    let fakes = off
        .mix(&tensor(normals, [n, d], &device))
        .unwrap()
        .try_into_vec_as::<f32>()
        .unwrap();
    assert!(
        fakes
            .chunks(d)
            .all(|row| protos.chunks(d).any(|p| p == row)),
        "no-mixing fakes are prototypes"
    );
}

#[test]
fn patchcore_score_is_the_max_patch_distance() {
    let mut rng = StdRng::seed_from_u64(8);
    let (images, per_image, nb, d) = (4, 9, 50, 5);
    let q = random(&mut rng, images * per_image * d);
    let b = random(&mut rng, nb * d);
    let (dist, _) = brute_nearest(&q, &b, d);
    let device = Device::flex();
    let bank = NormalBank::new(tensor(b, [nb, d], &device)).unwrap();
    let patches = PatchFeatures::new(tensor(q, [images * per_image, d], &device), [3, 3]).unwrap();
    let (scores, _) = patchcore_scores(&patches, &bank, &SearchConfig::default()).unwrap();
    for (i, s) in scores.iter().enumerate() {
        let want = dist[i * per_image..(i + 1) * per_image]
            .iter()
            .map(|v| v.sqrt())
            .fold(0f32, nan_max);
        assert!((s - want).abs() < 1e-5);
    }
}
