//! Writes the seed corpora the fuzz targets start from, under `seeds/<target>/`:
//! a tiny ONNX file, two small detector files (discriminator and K = 0), the feature cache entry
//! of one image, and PNG/JPEG images. Files with a checksum are written without it (the targets
//! append it). An example of the main crate, so that it builds on stable with the tests:
//! `cargo run --release --example fuzz_seeds` from the checkout.

use std::path::{Path, PathBuf};

use image::{ImageBuffer, Luma, Rgb};
use onnx_ir::{AttributeProto, GraphProto, Message, ModelProto, NodeProto, TensorProto};
use wscxr::Xray;
use wscxr::backbone::ExtractOptions;
use wscxr::bank::CoresetSize;
use wscxr::burn::prelude::Device;
use wscxr::{
    FeatureCache, LoadedBackbone, TrainingSet, Wscxr, WscxrConfig, extract_features, list_images,
};

fn tensor(name: &str, dims: &[i64], values: &[f32], raw: bool) -> TensorProto {
    let mut t = TensorProto::new();
    t.name = name.into();
    t.dims = dims.to_vec();
    t.data_type = 1;
    if raw {
        t.raw_data = values
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>()
            .into();
    } else {
        t.float_data = values.to_vec();
    }
    t
}

fn node(name: &str, op: &str, inputs: &[&str]) -> NodeProto {
    let mut n = NodeProto::new();
    n.name = name.into();
    n.op_type = op.into();
    n.input = inputs.iter().map(|s| s.to_string()).collect();
    n.output = vec![format!("{name}:out")];
    n
}

/// A few initializers named the way exporters name them (parameter names, `onnx::*` names
/// recovered from Conv/Gemm nodes, an int64 counter), raw and float-list data: the loader reads
/// all of it, then refuses the file as a network it is not.
fn tiny_onnx() -> Vec<u8> {
    let mut graph = GraphProto::new();
    graph.name = "tiny".into();
    let mut gemm = node("/classifier/Gemm", "Gemm", &["x", "onnx::Gemm_3"]);
    let mut trans = AttributeProto::new();
    trans.name = "alpha".into();
    trans.f = 1.0;
    gemm.attribute.push(trans);
    graph.node = vec![
        node(
            "/features/conv0/Conv",
            "Conv",
            &["input", "onnx::Conv_1", "onnx::Conv_2"],
        ),
        gemm,
    ];
    let counter = {
        let mut t = TensorProto::new();
        t.name = "features.norm0.num_batches_tracked".into();
        t.data_type = 7;
        t.raw_data = vec![0u8; 8].into();
        t
    };
    graph.initializer = vec![
        tensor("onnx::Conv_1", &[2, 3, 1, 1], &[0.5; 6], true),
        tensor("onnx::Conv_2", &[2], &[0.25, -0.25], false),
        tensor(
            "onnx::Gemm_3",
            &[3, 2],
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            true,
        ),
        tensor("features.norm0.weight", &[2], &[1.0, 1.0], false),
        counter,
    ];
    let mut model = ModelProto::new();
    model.ir_version = 8;
    model.producer_name = "wscxr-fuzz".into();
    model.graph = Some(graph).into();
    model.write_to_bytes().expect("encode")
}

fn without_checksum(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).expect("read");
    bytes[..bytes.len() - 32].to_vec()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("seed folder");
    std::fs::write(dir.join(name), bytes).expect("write seed");
    println!("{} ({} bytes)", dir.join(name).display(), bytes.len());
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let checkout = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let seeds = checkout.join("fuzz/seeds");
    let scratch = std::env::temp_dir().join(format!("wscxr-make-seeds-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let device = Device::flex();
    let weights = checkout.join(wscxr::BUNDLED_XCEPTION).canonicalize()?;

    write(&seeds.join("onnx_weights"), "tiny.onnx", &tiny_onnx());

    // Small detectors: 64 px images, 8-wide features, one 8-wide hidden layer, a 16-row bank.
    let mut config = WscxrConfig {
        weights: Some(weights.clone()),
        image_size: 64,
        mining_ratio: 1.0,
        ..WscxrConfig::default()
    };
    config.patch.reduce_to = Some(8);
    config.discriminator.hidden = vec![8];
    config.coreset.size = CoresetSize::Count(16);
    config.train.epochs = 1;
    let train = checkout.join("assets/quickstart/train");
    let normals = list_images(train.join("normal"))?;
    let abnormals = list_images(train.join("anomaly"))?;
    for (name, abnormals) in [("discriminator", abnormals), ("patchcore", Vec::new())] {
        let detector = Wscxr::new(config.clone())?
            .fit(&TrainingSet::new(normals.clone(), abnormals), &device)?;
        let file = scratch.join(format!("{name}.wscxr"));
        detector.save(&file)?;
        write(&seeds.join("detector_file"), name, &without_checksum(&file));
    }

    // The cache entry the cache_entry target overwrites: same image, size and tap.
    let backbone = LoadedBackbone::load(&config, &device)?;
    let cache = FeatureCache::new(scratch.join("cache"))?;
    let image = checkout.join("tests/fixtures/resize_src_rgb.png");
    let mut options = ExtractOptions::new(["block13_out"]);
    options.size = 32;
    extract_features(
        backbone.backbone(),
        &backbone.identity(),
        &Xray::files(std::slice::from_ref(&image)),
        &options,
        Some(&cache),
        |_, _| {},
    )?;
    for entry in std::fs::read_dir(cache.dir())? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "feat") {
            write(
                &seeds.join("cache_entry"),
                "block13_out",
                &without_checksum(&path),
            );
        }
    }

    let images = seeds.join("image_decode");
    write(&images, "rgb.png", &std::fs::read(&image)?);
    let small = |name: &str, save: &dyn Fn(&Path) -> image::ImageResult<()>| {
        let path = scratch.join(name);
        save(&path).expect("encode image");
        write(&images, name, &std::fs::read(&path).expect("read image"));
    };
    small("gray.png", &|p| {
        ImageBuffer::<Luma<u8>, _>::from_fn(12, 9, |x, y| Luma([(x * 20 + y) as u8])).save(p)
    });
    small("gray16.png", &|p| {
        ImageBuffer::<Luma<u16>, _>::from_fn(7, 5, |x, y| Luma([(x * 9000 + y * 70) as u16]))
            .save(p)
    });
    small("rgb.jpg", &|p| {
        ImageBuffer::<Rgb<u8>, _>::from_fn(24, 16, |x, y| {
            Rgb([(x * 10) as u8, (y * 15) as u8, ((x * y) % 256) as u8])
        })
        .save(p)
    });
    // DICOM: 16 x 16, 12 bits, MONOCHROME1, windowed (written by tests/fixtures/dicom/make_dicom.py).
    write(
        &images,
        "small.dcm",
        &std::fs::read(checkout.join("tests/fixtures/dicom/small_12bit_mono1.dcm"))?,
    );
    std::fs::remove_dir_all(&scratch)?;
    Ok(())
}
