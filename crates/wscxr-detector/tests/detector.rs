//! The detector's pieces against values worked out by hand, and anomaly maps against SciPy.
//!
//! Comparisons go through `assert_close`, which fails on NaN (a `f32::max` fold would drop it).

use std::ops::ControlFlow;

use burn::module::Param;
use burn::prelude::*;
use wscxr_bank::{LinearMixer, PatchFeatures};
use wscxr_detector::{
    DiscriminatorConfig, TrainConfig, anomaly_map, hinge_loss, image_scores, patch_scores, train,
};

/// `max |a - b|`, NaN when either side has a NaN anywhere.
fn max_abs_diff(actual: &[f32], expected: &[f32]) -> f32 {
    assert_eq!(actual.len(), expected.len(), "lengths differ");
    actual
        .iter()
        .zip(expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, |m, d| {
            if m.is_nan() || d.is_nan() {
                f32::NAN
            } else {
                m.max(d)
            }
        })
}

#[track_caller]
fn assert_close(actual: &[f32], expected: &[f32], tolerance: f32, what: &str) {
    let diff = max_abs_diff(actual, expected);
    // False for NaN: a NaN anywhere fails.
    assert!(
        diff <= tolerance,
        "{what}: max abs diff {diff:e} > {tolerance:e}\n  actual   {actual:?}\n  expected {expected:?}"
    );
}

fn tensor1(values: &[f32], device: &Device) -> Tensor<1> {
    Tensor::from_data(TensorData::new(values.to_vec(), [values.len()]), device)
}

fn tensor2(values: &[f32], shape: [usize; 2], device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values.to_vec(), shape), device)
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.try_into_vec_as::<f32>().expect("readback")
}

#[test]
fn assert_close_fails_on_nan() {
    assert!(max_abs_diff(&[f32::NAN, 9.0], &[0.0, 0.0]).is_nan());
    let caught = std::panic::catch_unwind(|| assert_close(&[f32::NAN], &[0.0], 1e9, "nan"));
    assert!(caught.is_err(), "a NaN passed the comparison");
}

#[test]
fn hinge_loss_matches_hand_computed_values() {
    let device = Device::flex();
    // normal: max(0, 0.5 - s) for s = 1, 0.2, -0.3 -> 0, 0.3, 0.8; mean 1.1 / 3.
    // fake:   max(0, 0.5 + s) for s = -1, 0, 0.25, -0.4 -> 0, 0.5, 0.75, 0.1; mean 1.35 / 4.
    let loss = hinge_loss(
        tensor1(&[1.0, 0.2, -0.3], &device),
        tensor1(&[-1.0, 0.0, 0.25, -0.4], &device),
        0.5,
    );
    assert_close(&host(loss), &[1.1 / 3.0 + 1.35 / 4.0], 1e-6, "hinge loss");

    // Separated by more than the margin: no loss.
    let loss = hinge_loss(
        tensor1(&[0.6, 2.0], &device),
        tensor1(&[-0.6, -3.0], &device),
        0.5,
    );
    assert_close(&host(loss), &[0.0], 0.0, "separated scores");

    // Everything on the wrong side: 0.5 - (-1) and 0.5 + 2, each averaged over one score.
    let loss = hinge_loss(tensor1(&[-1.0], &device), tensor1(&[2.0], &device), 0.5);
    assert_close(&host(loss), &[1.5 + 2.5], 1e-6, "wrong side");

    // The margin enters with its sign: margin 0 on scores of the right sign gives no loss.
    let loss = hinge_loss(tensor1(&[0.1], &device), tensor1(&[-0.1], &device), 0.0);
    assert_close(&host(loss), &[0.0], 0.0, "margin 0");
}

/// A linear D `x -> x . w` set to `w`.
fn linear_discriminator(w: &[f32], device: &Device) -> wscxr_detector::Discriminator {
    let mut d = DiscriminatorConfig::linear().init(w.len(), 0, device);
    d.head.weight = Param::from_tensor(tensor2(w, [w.len(), 1], device));
    d
}

/// One training step: two normal patches, one prototype used unmixed (`min_alpha = 1`, so both
/// fakes are the prototype), Adam lr 2e-4, coupled L2 weight decay 1e-5, eps 1e-8.
///
/// w = (0.5, -0.25, 0.5, 1e-3); normals n1 = (0.2, 0, 0, 0), n2 = (0, -4, 0, 0); prototype
/// p = (0, 0, 0.4, 0). D(n1) = 0.1 (inside the margin), D(n2) = 1 (outside: no gradient),
/// D(p) = 0.2 (inside). Loss = (0.4 + 0) / 2 + (0.7 + 0.7) / 2 = 0.9.
/// Loss gradient = -n1 / 2 + (p + p) / 2 = (-0.1, 0, 0.4, 0); plus 1e-5 w:
/// g = (-0.099995, -2.5e-6, 0.400005, 1e-8).
/// Adam's first step (bias-corrected): w -= lr g / (|g| + eps), so
/// w0: 0.5 + 2e-4 (0.099995 / 0.09999501) = 0.5 + 2e-4 (1 - 1e-7)
/// w1: -0.25 + 2e-4 (2.5e-6 / 2.51e-6): the weight decay alone moves it, by 0.996 lr
/// w2: 0.5 - 2e-4
/// w3: 1e-3 - 2e-4 (1e-8 / 2e-8) = 1e-3 - 1e-4: here eps halves the step.
#[test]
fn one_adam_step_matches_hand_computed_values() {
    let device = Device::flex();
    let w = [0.5, -0.25, 0.5, 1e-3];
    let normals = tensor2(&[0.2, 0.0, 0.0, 0.0, 0.0, -4.0, 0.0, 0.0], [2, 4], &device);
    let prototype = tensor2(&[0.0, 0.0, 0.4, 0.0], [1, 4], &device);
    let mut mixer = LinearMixer::with_min_alpha(prototype, 1.0, 0).unwrap();
    let config = TrainConfig {
        epochs: 1,
        images_per_step: 8,
        ..TrainConfig::default()
    };
    assert_eq!(
        (config.learning_rate, config.weight_decay, config.margin),
        (2e-4, 1e-5, 0.5),
        "the official hyper-parameters"
    );
    let mut losses = Vec::new();
    let trained = train(
        linear_discriminator(&w, &device),
        &PatchFeatures::new(normals.clone(), [1, 1]).unwrap(),
        &mut mixer,
        &config,
        0,
        |report, _| {
            losses.push(report.mean_loss);
            ControlFlow::Continue(())
        },
    )
    .unwrap();
    assert_close(&losses, &[0.9], 1e-6, "loss of the step");
    let lr = 2e-4f64;
    let expected = [
        0.5 + lr * (0.099995 / (0.099995 + 1e-8)),
        -0.25 + lr * (2.5e-6 / (2.5e-6 + 1e-8)),
        0.5 - lr * (0.400005 / (0.400005 + 1e-8)),
        1e-3 - lr * 0.5,
    ]
    .map(|v| v as f32);
    let got = host(trained.head.weight.val());
    // f32 resolution near 0.5 is 6e-8; the smallest effect checked (eps) moves w3 by 1e-4.
    assert_close(&got, &expected, 2e-7, "weights after one Adam step");
}

/// The MLP discriminator sees normal and fake patches in one batch per step, so batch norm
/// normalises both with the same statistics (as the reference code's single forward pass does):
/// after one step the running mean is 0.1 x the joint batch mean of the first linear layer's
/// output. Two separate passes would leave 0.09 x normal mean + 0.1 x fake mean instead.
#[test]
fn mlp_discriminator_trains_on_one_joint_batch() {
    let device = Device::flex();
    let d = 4;
    let normals: Vec<f32> = vec![
        1.0, 2.0, 0.0, 1.0, //
        3.0, 0.0, 1.0, 1.0, //
        2.0, 2.0, 2.0, 0.0,
    ];
    let prototype = vec![-5.0, 4.0, -3.0, 2.0];
    let discriminator = DiscriminatorConfig { hidden: vec![3] }.init(d, 7, &device);
    let weight = host(discriminator.hidden[0].linear.weight.val()); // [d, 3]
    let bias = host(discriminator.hidden[0].linear.bias.as_ref().unwrap().val());
    let mut mixer =
        LinearMixer::with_min_alpha(tensor2(&prototype, [1, d], &device), 1.0, 0).unwrap();
    let config = TrainConfig {
        epochs: 1,
        images_per_step: 8,
        ..TrainConfig::default()
    };
    let trained = train(
        discriminator,
        &PatchFeatures::new(tensor2(&normals, [3, d], &device), [1, 1]).unwrap(),
        &mut mixer,
        &config,
        0,
        |_, _| ControlFlow::Continue(()),
    )
    .unwrap();
    // The joint batch: the three normals and three copies of the prototype.
    let mut mean_input = vec![0f32; d];
    for row in normals
        .chunks(d)
        .chain(std::iter::repeat_n(&prototype[..], 3))
    {
        for (m, v) in mean_input.iter_mut().zip(row) {
            *m += v / 6.0;
        }
    }
    let expected: Vec<f32> = (0..3)
        .map(|j| {
            let mean_out: f32 = (0..d).map(|i| mean_input[i] * weight[i * 3 + j]).sum();
            0.1 * (mean_out + bias[j])
        })
        .collect();
    let running = host(trained.hidden[0].norm.running_mean.value());
    assert_close(
        &running,
        &expected,
        1e-5,
        "batch-norm running mean after one step",
    );
}

/// Patch scores are `-D(x)`: high for patches D finds abnormal.
#[test]
fn patch_scores_are_minus_d_and_image_score_is_the_max() {
    let device = Device::flex();
    let d = linear_discriminator(&[1.0, -2.0], &device);
    let rows = tensor2(&[1.0, 0.0, 0.0, 1.0, 2.0, 2.0, -1.0, 0.5], [4, 2], &device);
    let scores = patch_scores(&d, &PatchFeatures::new(rows, [1, 1]).unwrap()).unwrap();
    assert_close(&scores, &[-1.0, 2.0, 2.0, 2.0], 1e-6, "patch scores");
    assert_close(
        &image_scores(&[-1.0, 2.0, 0.5, -3.0, 0.25, 0.0], 3),
        &[2.0, 0.25],
        0.0,
        "image scores",
    );
    // A NaN patch score makes its image's score NaN rather than disappearing from the max.
    let scores = image_scores(&[f32::NAN, 1.0, 0.0, 2.0], 2);
    assert!(scores[0].is_nan(), "{scores:?}");
    assert_eq!(scores[1], 2.0);
}

/// Trained on normals around +mu against prototypes around -mu, D ends up scoring the fakes as
/// more anomalous than the normals (a flipped hinge or score sign inverts this).
#[test]
fn training_separates_normals_from_fakes() {
    let device = Device::flex();
    let d = 8;
    let rows = 64;
    // Deterministic pseudo-noise, enough to make the problem non-trivial.
    let noise = |i: usize| ((i * 7919 % 101) as f32 / 101.0 - 0.5) * 0.6;
    let normals: Vec<f32> = (0..rows * d)
        .map(|i| if i % d < 2 { 1.0 } else { 0.0 } + noise(i))
        .collect();
    let prototypes: Vec<f32> = (0..16 * d)
        .map(|i| if i % d < 2 { -1.0 } else { 0.0 } + noise(i + 5))
        .collect();
    let normals = tensor2(&normals, [rows, d], &device);
    let prototypes = tensor2(&prototypes, [16, d], &device);
    let mut mixer = LinearMixer::new(prototypes.clone(), 3).unwrap();
    let config = TrainConfig {
        epochs: 40,
        images_per_step: 4,
        learning_rate: 1e-2,
        ..TrainConfig::default()
    };
    let mut losses = Vec::new();
    let trained = train(
        DiscriminatorConfig::linear().init(d, 1, &device),
        &PatchFeatures::new(normals.clone(), [4, 1]).unwrap(),
        &mut mixer,
        &config,
        0,
        |report, _| {
            losses.push(report.mean_loss);
            ControlFlow::Continue(())
        },
    )
    .unwrap();
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    let normal_scores =
        patch_scores(&trained, &PatchFeatures::new(normals, [1, 1]).unwrap()).unwrap();
    let proto_scores =
        patch_scores(&trained, &PatchFeatures::new(prototypes, [1, 1]).unwrap()).unwrap();
    let worst_normal = normal_scores
        .iter()
        .copied()
        .fold(f32::NEG_INFINITY, |m, s| {
            if s.is_nan() { f32::NAN } else { m.max(s) }
        });
    let best_proto = proto_scores.iter().copied().fold(f32::INFINITY, |m, s| {
        if s.is_nan() { f32::NAN } else { m.min(s) }
    });
    assert!(
        best_proto > worst_normal,
        "every prototype should score above every normal: {best_proto} vs {worst_normal}"
    );
}

/// Grid, output size, sigma, grid scores, SciPy's map.
type ScipyCase = ([usize; 2], [usize; 2], f32, Vec<f32>, Vec<f32>);

/// Cases written by `fixtures/make_anomaly_maps.py` (bilinear, half-pixel centres, then
/// `scipy.ndimage.gaussian_filter(mode="reflect", truncate=4.0)`), layout described there.
fn scipy_cases() -> Vec<ScipyCase> {
    let bytes = include_bytes!("fixtures/anomaly_maps.bin");
    let mut at = 0;
    let mut word = || {
        let w: [u8; 4] = bytes[at..at + 4].try_into().unwrap();
        at += 4;
        w
    };
    let count = u32::from_le_bytes(word());
    let mut cases = Vec::new();
    for _ in 0..count {
        let [gh, gw, h, w] = [(); 4].map(|_| u32::from_le_bytes(word()) as usize);
        let sigma = f32::from_le_bytes(word());
        let grid = (0..gh * gw).map(|_| f32::from_le_bytes(word())).collect();
        let map = (0..h * w).map(|_| f32::from_le_bytes(word())).collect();
        cases.push(([gh, gw], [h, w], sigma, grid, map));
    }
    assert_eq!(at, bytes.len(), "trailing bytes in the fixture");
    cases
}

#[test]
fn anomaly_map_matches_scipy() {
    let cases = scipy_cases();
    assert_eq!(cases.len(), 5);
    for (grid, size, sigma, scores, expected) in cases {
        let map = anomaly_map(&scores, grid, size, sigma);
        let scale = max_abs_diff(&expected, &vec![0.0; expected.len()]);
        // f32 against SciPy's float64 (rounded to f32): a few ulps of the map's magnitude.
        assert_close(
            &map,
            &expected,
            2e-6 * scale,
            &format!("grid {grid:?} -> {size:?}, sigma {sigma}"),
        );
    }
}
