//! Weight import: bad weight files are errors that name the tensor; torch-style exports load; burn
//! records round-trip.

use std::path::Path;

use crate::common::*;
use burn::prelude::*;
use onnx_ir::{Message, ModelProto};
use wscxr::backbone::{Backbone, BackboneError, Network, Precision};

fn load_model(path: &Path) -> ModelProto {
    ModelProto::parse_from_bytes(&std::fs::read(path).unwrap()).unwrap()
}

fn write_model(model: &ModelProto, dir: &Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, model.write_to_bytes().unwrap()).unwrap();
    path
}

#[test]
fn file_of_the_other_network_is_rejected() {
    let Some(shared) = shared_dir() else { return };
    let device = Device::flex();
    let err = Backbone::from_onnx(
        Network::DenseNet121,
        shared.join("weights/xception_imagenet_b13.onnx"),
        &device,
    )
    .unwrap_err();
    assert!(matches!(err, BackboneError::WrongNetwork { .. }), "{err}");
    let err = Backbone::from_onnx(
        Network::Xception,
        shared.join("fixtures/densenet121_synthetic.onnx"),
        &device,
    )
    .unwrap_err();
    assert!(matches!(err, BackboneError::WrongNetwork { .. }), "{err}");
    assert!(
        err.to_string().contains("densenet121_synthetic.onnx"),
        "{err}"
    );
}

#[test]
fn missing_extra_misshapen_and_nan_tensors_are_named() {
    let Some(shared) = shared_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let device = Device::flex();
    let original = load_model(&shared.join("weights/xception_imagenet_b13.onnx"));

    let mut missing = original.clone();
    missing
        .graph
        .mut_or_insert_default()
        .initializer
        .retain(|t| t.name != "block7_sepconv2_bn.running_var");
    let err = Backbone::from_onnx(
        Network::Xception,
        write_model(&missing, tmp.path(), "missing.onnx"),
        &device,
    )
    .unwrap_err();
    match &err {
        BackboneError::MissingTensor {
            tensor, expected, ..
        } => {
            assert_eq!(tensor, "block7_sepconv2_bn.running_var");
            assert_eq!(expected, &vec![728]);
        }
        other => panic!("expected MissingTensor, got {other}"),
    }

    let mut extra = original.clone();
    let mut stray = extra.graph.initializer[0].clone();
    stray.name = "block1_conv1.extra_weight".into();
    extra.graph.mut_or_insert_default().initializer.push(stray);
    let err = Backbone::from_onnx(
        Network::Xception,
        write_model(&extra, tmp.path(), "extra.onnx"),
        &device,
    )
    .unwrap_err();
    assert!(
        matches!(&err, BackboneError::UnexpectedTensor { tensor, .. } if tensor == "block1_conv1.extra_weight"),
        "{err}"
    );

    let mut misshapen = original.clone();
    let graph = misshapen.graph.mut_or_insert_default();
    let target = graph
        .initializer
        .iter_mut()
        .find(|t| t.name == "block2_sepconv1.pointwise.weight")
        .unwrap();
    target.dims = vec![64, 128, 1, 1];
    let err = Backbone::from_onnx(
        Network::Xception,
        write_model(&misshapen, tmp.path(), "shape.onnx"),
        &device,
    )
    .unwrap_err();
    match &err {
        BackboneError::ShapeMismatch {
            tensor,
            expected,
            found,
            ..
        } => {
            assert_eq!(tensor, "block2_sepconv1.pointwise.weight");
            assert_eq!(expected, &vec![128, 64, 1, 1]);
            assert_eq!(found, &vec![64, 128, 1, 1]);
        }
        other => panic!("expected ShapeMismatch, got {other}"),
    }

    let mut nan = original;
    let graph = nan.graph.mut_or_insert_default();
    let target = graph
        .initializer
        .iter_mut()
        .find(|t| t.name == "block1_conv1_bn.bias")
        .unwrap();
    let mut raw = target.raw_data.to_vec();
    raw[0..4].copy_from_slice(&f32::NAN.to_le_bytes());
    target.raw_data = raw.into();
    let err = Backbone::from_onnx(
        Network::Xception,
        write_model(&nan, tmp.path(), "nan.onnx"),
        &device,
    )
    .unwrap_err();
    assert!(
        matches!(&err, BackboneError::NonFinite { tensor, .. } if tensor == "block1_conv1_bn.bias"),
        "{err}"
    );
}

#[test]
fn garbage_and_absent_weight_files_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let garbage = tmp.path().join("garbage.onnx");
    std::fs::write(&garbage, [0xffu8; 64]).unwrap();
    let device = Device::flex();
    let err = Backbone::from_onnx(Network::Xception, &garbage, &device).unwrap_err();
    assert!(matches!(err, BackboneError::WeightsFormat { .. }), "{err}");
    let err = Backbone::from_onnx(Network::Xception, tmp.path().join("absent.onnx"), &device)
        .unwrap_err();
    assert!(matches!(err, BackboneError::Io { .. }), "{err}");
    let err = Backbone::from_record(Network::Xception, &garbage, &device).unwrap_err();
    assert!(matches!(err, BackboneError::Record { .. }), "{err}");
}

/// What `torch.onnx.export(model.eval(), ...)` writes: `norm0` folded into `conv0` (which gains a
/// bias), initializers renamed `onnx::Conv_*`, nodes named by module path (`/features/conv0/Conv`).
#[test]
fn torch_style_export_with_folded_stem_loads_and_matches() {
    let Some(shared) = shared_dir() else { return };
    let fixtures = shared.join("fixtures");
    let mut model = load_model(&fixtures.join("densenet121_synthetic.onnx"));
    let graph = model.graph.mut_or_insert_default();
    let take = |graph: &mut onnx_ir::GraphProto, name: &str| -> Vec<f32> {
        let t = graph.initializer.iter().find(|t| t.name == name).unwrap();
        t.raw_data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    let weight = take(graph, "features.conv0.weight");
    let [gamma, beta, mean, var] = ["weight", "bias", "running_mean", "running_var"]
        .map(|p| take(graph, &format!("features.norm0.{p}")));
    let per_channel = weight.len() / 64;
    let mut folded_w = weight.clone();
    let mut folded_b = vec![0f32; 64];
    for c in 0..64 {
        let scale = gamma[c] / (var[c] + 1e-5).sqrt();
        folded_w[c * per_channel..(c + 1) * per_channel]
            .iter_mut()
            .for_each(|w| *w *= scale);
        folded_b[c] = beta[c] - mean[c] * scale;
    }
    let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    graph
        .initializer
        .retain(|t| !t.name.starts_with("features.norm0."));
    let mut bias = graph
        .initializer
        .iter()
        .find(|t| t.name == "features.conv0.weight")
        .unwrap()
        .clone();
    for t in graph
        .initializer
        .iter_mut()
        .filter(|t| t.name == "features.conv0.weight")
    {
        t.name = "onnx::Conv_1".into();
        t.raw_data = bytes(&folded_w).into();
    }
    bias.name = "onnx::Conv_2".into();
    bias.dims = vec![64];
    bias.raw_data = bytes(&folded_b).into();
    graph.initializer.push(bias);
    for node in graph.node.iter_mut() {
        if node.name == "features.conv0" {
            node.name = "/features/conv0/Conv".into();
            node.input = vec![
                node.input[0].clone(),
                "onnx::Conv_1".into(),
                "onnx::Conv_2".into(),
            ];
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let path = write_model(&model, tmp.path(), "torch_export.onnx");
    let device = Device::flex();
    let backbone = Backbone::from_onnx(Network::DenseNet121, &path, &device).unwrap();
    let x = npy_tensor::<4>(&fixtures.join("input_cxr256_imagenet.npy"), &device);
    let map = backbone.forward(x, &["denseblock2"]).unwrap().remove(0);
    let expected = read_npy(&fixtures.join("densenet121_synthetic_cxr256_denseblock2.npy"));
    let err = relative_error(host(map), &expected);
    assert!(err <= 1e-4, "torch-style export: {err:.2e}");
}

#[test]
fn burn_record_round_trips_at_full_precision() {
    let Some(shared) = shared_dir() else { return };
    let fixtures = shared.join("fixtures");
    let device = Device::flex();
    let onnx = Backbone::from_onnx(
        Network::DenseNet121,
        fixtures.join("densenet121_synthetic.onnx"),
        &device,
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let record = tmp.path().join("densenet.bpk");
    onnx.save_record(&record, Precision::Full).unwrap();
    let loaded = Backbone::from_record(Network::DenseNet121, &record, &device).unwrap();
    let x = npy_tensor::<4>(&fixtures.join("input_randn_224x288.npy"), &device);
    let a = host(onnx.forward(x.clone(), &["denseblock2"]).unwrap().remove(0));
    let b = host(loaded.forward(x, &["denseblock2"]).unwrap().remove(0));
    assert_eq!(a, b);
    let err = Backbone::from_record(Network::Xception, &record, &device).unwrap_err();
    assert!(matches!(err, BackboneError::Record { .. }), "{err}");
}

#[test]
fn unknown_tap_is_an_error_listing_the_taps() {
    let Some(shared) = shared_dir() else { return };
    let device = Device::flex();
    let backbone = Backbone::from_onnx(
        Network::DenseNet121,
        shared.join("fixtures/densenet121_synthetic.onnx"),
        &device,
    )
    .unwrap();
    let x = Tensor::<4>::zeros([1, 3, 64, 64], &device);
    let err = backbone.forward(x, &["block13_out"]).unwrap_err();
    assert!(err.to_string().contains("denseblock4"), "{err}");
}
