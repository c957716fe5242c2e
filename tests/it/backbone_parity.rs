//! The burn ports of Xception and DenseNet-121 against ONNX Runtime's outputs in ../shared/fixtures:
//! max |burn - ort| <= 1e-4 x max |ort| per tensor, on every backend of the build.

use std::path::Path;

use crate::common::*;
use burn::prelude::*;
use wscxr::backbone::{Backbone, Network};

const TOLERANCE: f32 = 1e-4;

/// The name the output fixtures use for an input (`input_randn_224x288.npy` -> `randn224x288`).
fn fixture_case(input: &str) -> String {
    if input.starts_with("randn") {
        input.replace('_', "")
    } else {
        input.split('_').next().unwrap().to_string()
    }
}

/// Asserts that `actual` matches the fixture `name` within the tolerance, and reports the error.
fn assert_matches<const D: usize>(actual: Tensor<D>, fixtures: &Path, name: &str, label: &str) {
    assert_within(actual, fixtures, name, label, TOLERANCE);
}

/// Asserts `max |actual - fixture| <= tolerance x max |fixture|`, and reports the error.
fn assert_within<const D: usize>(
    actual: Tensor<D>,
    fixtures: &Path,
    name: &str,
    label: &str,
    tolerance: f32,
) {
    let expected = read_npy(&fixtures.join(format!("{name}.npy")));
    let err = relative_error(host(actual), &expected);
    println!("{label} {name}: relative error {err:.2e}");
    assert!(
        err <= tolerance,
        "{label} {name}: {err:.2e} > {tolerance:.0e}"
    );
}

fn check_taps(
    backbone: &Backbone,
    fixtures: &Path,
    input: &str,
    prefix: &str,
    taps: &[&str],
    label: &str,
) {
    let device = backbone.device();
    let x = npy_tensor::<4>(&fixtures.join(format!("input_{input}.npy")), device);
    let maps = backbone.forward(x, taps).unwrap();
    let case = fixture_case(input);
    for (tap, map) in taps.iter().zip(maps) {
        assert_matches(map, fixtures, &format!("{prefix}_{case}_{tap}"), label);
    }
}

#[test]
fn xception_matches_onnx_runtime() {
    let Some(shared) = shared_dir() else { return };
    let fixtures = shared.join("fixtures");
    for (label, device) in cpu_devices() {
        let backbone = Backbone::from_onnx(
            Network::Xception,
            shared.join("weights/xception_imagenet_b13.onnx"),
            &device,
        )
        .unwrap();
        let taps = ["block3_out", "block4_out", "block12_out", "block13_out"];
        check_taps(
            &backbone,
            &fixtures,
            "cxr256_xception",
            "xception",
            &taps,
            label,
        );
        check_taps(
            &backbone,
            &fixtures,
            "randn_224x288",
            "xception",
            &taps,
            label,
        );
    }
}

#[test]
fn densenet121_matches_onnx_runtime() {
    let Some(shared) = shared_dir() else { return };
    let fixtures = shared.join("fixtures");
    for (label, device) in cpu_devices() {
        let backbone = Backbone::from_onnx(
            Network::DenseNet121,
            fixtures.join("densenet121_synthetic.onnx"),
            &device,
        )
        .unwrap();
        let taps = ["denseblock2", "denseblock3", "denseblock4"];
        check_taps(
            &backbone,
            &fixtures,
            "cxr256_imagenet",
            "densenet121_synthetic",
            &taps,
            label,
        );
        check_taps(
            &backbone,
            &fixtures,
            "randn_224x288",
            "densenet121_synthetic",
            &taps,
            label,
        );
        for input in ["cxr256_imagenet", "randn_224x288"] {
            let x = npy_tensor::<4>(&fixtures.join(format!("input_{input}.npy")), &device);
            let logits = backbone.densenet121().unwrap().logits(x);
            let name = format!("densenet121_synthetic_{}_logits", fixture_case(input));
            assert_matches(logits, &fixtures, &name, label);
        }
    }
}

/// The wgpu path against the same fixtures (a few taps keep it quick on a software device).
#[test]
#[cfg_attr(
    not(feature = "wgpu"),
    ignore = "this build has no wgpu backend (cargo feature `wgpu`)"
)]
fn wgpu_matches_onnx_runtime() {
    let Some(device) = gpu_device() else { return };
    let Some(shared) = shared_dir() else { return };
    let fixtures = shared.join("fixtures");
    let xception = Backbone::from_onnx(
        Network::Xception,
        shared.join("weights/xception_imagenet_b13.onnx"),
        &device,
    )
    .unwrap();
    check_taps(
        &xception,
        &fixtures,
        "cxr256_xception",
        "xception",
        &["block3_out", "block13_out"],
        "wgpu",
    );
    let densenet = Backbone::from_onnx(
        Network::DenseNet121,
        fixtures.join("densenet121_synthetic.onnx"),
        &device,
    )
    .unwrap();
    check_taps(
        &densenet,
        &fixtures,
        "randn_224x288",
        "densenet121_synthetic",
        &["denseblock2"],
        "wgpu",
    );
}

#[test]
fn bundled_half_precision_xception_is_close_to_fp32_reference() {
    let Some(shared) = shared_dir() else { return };
    let fixtures = shared.join("fixtures");
    let device = Device::flex();
    let record = Path::new(env!("CARGO_MANIFEST_DIR")).join(wscxr::BUNDLED_XCEPTION);
    let backbone = Backbone::from_record(Network::Xception, &record, &device).unwrap();
    let x = npy_tensor::<4>(&fixtures.join("input_cxr256_xception.npy"), &device);
    let map = backbone.forward(x, &["block13_out"]).unwrap().remove(0);
    assert_within(
        map,
        &fixtures,
        "xception_cxr256_block13_out",
        "bundled f16",
        2e-2,
    );
}

/// `check_taps`, refusing any NaN or infinite value before comparing (the error fold above would
/// skip a NaN in the output).
fn check_taps_finite(
    backbone: &Backbone,
    fixtures: &Path,
    input: &str,
    prefix: &str,
    taps: &[&str],
    label: &str,
) {
    let device = backbone.device();
    let x = npy_tensor::<4>(&fixtures.join(format!("input_{input}.npy")), device);
    let maps = backbone.forward(x, taps).unwrap();
    let case = fixture_case(input);
    for (tap, map) in taps.iter().zip(maps) {
        let values = map.clone().try_into_vec_as::<f32>().expect("readback");
        assert!(
            values.iter().all(|v| v.is_finite()),
            "{label} {tap}: non-finite values"
        );
        assert_matches(map, fixtures, &format!("{prefix}_{case}_{tap}"), label);
    }
}

/// Both forward paths of a CPU device: the host path (the default) and burn's operators on the
/// folded weights.
fn both_paths(network: Network, weights: &Path, device: &Device) -> Vec<(&'static str, Backbone)> {
    let host = Backbone::from_onnx(network, weights, device).unwrap();
    assert!(
        host.uses_host_path(),
        "CPU devices default to the host path"
    );
    let burn = host.clone().with_host_path(false).unwrap();
    assert!(!burn.uses_host_path());
    vec![("host path", host), ("burn path", burn)]
}

#[test]
fn xception_host_and_burn_paths_match_onnx_runtime() {
    let Some(shared) = shared_dir() else { return };
    let fixtures = shared.join("fixtures");
    let weights = shared.join("weights/xception_imagenet_b13.onnx");
    for (backend, device) in cpu_devices() {
        for (path, backbone) in both_paths(Network::Xception, &weights, &device) {
            let label = format!("{backend} {path}");
            let taps = ["block3_out", "block4_out", "block12_out", "block13_out"];
            for input in ["cxr256_xception", "randn_224x288"] {
                check_taps_finite(&backbone, &fixtures, input, "xception", &taps, &label);
            }
        }
    }
}

#[test]
fn densenet121_host_and_burn_paths_match_onnx_runtime() {
    let Some(shared) = shared_dir() else { return };
    let fixtures = shared.join("fixtures");
    let weights = fixtures.join("densenet121_synthetic.onnx");
    for (backend, device) in cpu_devices() {
        for (path, backbone) in both_paths(Network::DenseNet121, &weights, &device) {
            let label = format!("{backend} {path}");
            let taps = ["denseblock2", "denseblock3", "denseblock4"];
            for input in ["cxr256_imagenet", "randn_224x288"] {
                check_taps_finite(
                    &backbone,
                    &fixtures,
                    input,
                    "densenet121_synthetic",
                    &taps,
                    &label,
                );
            }
        }
    }
}

/// The host path against burn's operators on the folded weights, same tolerance, for `[n, 3, h, w]`
/// random input: every tap, both networks.
fn host_matches_burn(shared: &Path, n: usize, h: usize, w: usize) {
    let device = Device::flex();
    let cases = [
        (
            Network::Xception,
            shared.join("weights/xception_imagenet_b13.onnx"),
        ),
        (
            Network::DenseNet121,
            shared.join("fixtures/densenet121_synthetic.onnx"),
        ),
    ];
    for (network, weights) in cases {
        let host = Backbone::from_onnx(network, &weights, &device).unwrap();
        let burn = host.clone().with_host_path(false).unwrap();
        let x = Tensor::<4>::random(
            [n, 3, h, w],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        let taps = network.taps();
        let fast = host.forward(x.clone(), taps).unwrap();
        let plain = burn.forward(x, taps).unwrap();
        for ((tap, a), b) in taps.iter().zip(fast).zip(plain) {
            assert_eq!(a.dims(), b.dims(), "{network} {tap}");
            let a = a.try_into_vec_as::<f32>().unwrap();
            let b = b.try_into_vec_as::<f32>().unwrap();
            assert!(a.iter().chain(&b).all(|v| v.is_finite()), "{network} {tap}");
            let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
            let diff = a
                .iter()
                .zip(&b)
                .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
            println!(
                "{network} {tap} {n}x{h}x{w}: host vs burn relative error {:.2e}",
                diff / scale
            );
            assert!(
                diff <= TOLERANCE * scale,
                "{network} {tap}: {diff} > {TOLERANCE} x {scale}"
            );
        }
    }
}

/// Odd, non-square sizes (TensorFlow 'same' pooling pads differently there), a batch of two.
#[test]
fn host_path_matches_burn_path_on_odd_sizes() {
    let Some(shared) = shared_dir() else { return };
    host_matches_burn(&shared, 2, 67, 45);
}

/// A batch large enough for the host path's fused bands (depthwise + GEMM, norm + GEMM), which
/// batch-1 fixtures do not reach.
#[test]
fn host_path_fused_bands_match_burn_path() {
    let Some(shared) = shared_dir() else { return };
    host_matches_burn(&shared, 4, 256, 256);
}

/// Records keep the unfolded weights: a record saved from a backbone that folded its batch norms
/// loads back (as an unfolded record must) and computes the same maps.
#[test]
fn records_round_trip_with_folding() {
    let Some(shared) = shared_dir() else { return };
    let fixtures = shared.join("fixtures");
    let device = Device::flex();
    let original = Backbone::from_onnx(
        Network::DenseNet121,
        fixtures.join("densenet121_synthetic.onnx"),
        &device,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("densenet.bpk");
    original
        .save_record(&path, wscxr::backbone::Precision::Full)
        .unwrap();
    let loaded = Backbone::from_record(Network::DenseNet121, &path, &device).unwrap();
    for (label, backbone) in [
        ("host path", loaded.clone()),
        ("burn path", loaded.with_host_path(false).unwrap()),
    ] {
        check_taps_finite(
            &backbone,
            &fixtures,
            "randn_224x288",
            "densenet121_synthetic",
            &["denseblock4"],
            &format!("record {label}"),
        );
    }
}
