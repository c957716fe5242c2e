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
