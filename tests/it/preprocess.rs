//! Image preprocessing against Pillow: the reference fixture was made with
//! `Image.open(p).convert('RGB').resize((256, 256), Image.BILINEAR)` and the backbone's scaling.

use std::path::{Path, PathBuf};

use crate::common::*;
use image::{DynamicImage, ImageBuffer, Luma, LumaA, Rgb, Rgba};
use wscxr::input::{ImageError, Normalization, load_image, preprocess};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn real_xray_matches_pillow_preprocessing_exactly() {
    let Some(shared) = shared_dir() else { return };
    // The fixture's source image, identified by comparing every dev image with Pillow.
    let image = shared.join("data/zhanglab-dev/train/normal/IM-0115-0001.png");
    for (normalization, name) in [
        (Normalization::SymmetricUnit, "input_cxr256_xception.npy"),
        (Normalization::ImageNet, "input_cxr256_imagenet.npy"),
    ] {
        let ours = load_image(&image, 256, normalization).unwrap();
        let (shape, expected) = read_npy(&shared.join("fixtures").join(name));
        assert_eq!(shape, vec![1, 3, 256, 256]);
        let diff = max_abs_diff(&ours.data, &expected);
        assert!(diff < 1e-5, "{name}: max abs diff {diff}");
    }
}

/// Pillow's output for a 97x61 RGB noise image resized to 40x40 (downscaling: the filter widens)
/// and to 150x150 (upscaling), stored as PNGs by `tests/fixtures` generation with Pillow 11.
#[test]
fn rgb_resize_matches_pillow_bit_for_bit() {
    for (size, name) in [
        (40, "resize_src_rgb_pil40.png"),
        (150, "resize_src_rgb_pil150.png"),
    ] {
        let ours = load_image(
            &fixture("resize_src_rgb.png"),
            size,
            Normalization::SymmetricUnit,
        )
        .unwrap();
        let pil = image::open(fixture(name)).unwrap().to_rgb8();
        let mut expected = Vec::new();
        for c in 0..3 {
            expected.extend(pil.pixels().map(|p| p[c] as f32 / 127.5 - 1.0));
        }
        let diff = max_abs_diff(&ours.data, &expected);
        assert!(
            diff < 1e-6,
            "{size}: max abs diff {diff} (one 8-bit step is {})",
            1.0 / 127.5
        );
    }
}

fn gradient(width: u32, height: u32) -> impl Fn(u32, u32) -> u8 {
    move |x, y| ((x * 255 / width.max(1) + y * 97 / height.max(1)) % 256) as u8
}

#[test]
fn every_pixel_layout_gives_the_same_gray_input() {
    let (w, h) = (83, 71);
    let g = gradient(w, h);
    let gray = DynamicImage::ImageLuma8(ImageBuffer::from_fn(w, h, |x, y| Luma([g(x, y)])));
    let reference = preprocess(&gray, 64, Normalization::ImageNet);
    let layouts = [
        DynamicImage::ImageLumaA8(ImageBuffer::from_fn(w, h, |x, y| LumaA([g(x, y), 17]))),
        DynamicImage::ImageRgb8(ImageBuffer::from_fn(w, h, |x, y| Rgb([g(x, y); 3]))),
        DynamicImage::ImageRgba8(ImageBuffer::from_fn(w, h, |x, y| {
            let v = g(x, y);
            Rgba([v, v, v, 0])
        })),
    ];
    for image in layouts {
        let ours = preprocess(&image, 64, Normalization::ImageNet);
        assert_eq!(ours.data, reference.data, "{:?}", image.color());
    }
    // 16-bit: the same picture at 257x the values, resized in floating point without 8-bit rounding,
    // so it may differ from the 8-bit path by at most one 8-bit step.
    let gray16 = DynamicImage::ImageLuma16(ImageBuffer::from_fn(w, h, |x, y| {
        Luma([g(x, y) as u16 * 257])
    }));
    let ours = preprocess(&gray16, 64, Normalization::SymmetricUnit);
    let eight = preprocess(&gray, 64, Normalization::SymmetricUnit);
    let diff = max_abs_diff(&ours.data, &eight.data);
    assert!(diff <= 1.0 / 127.5 + 1e-6, "16-bit vs 8-bit: {diff}");
    assert_ne!(
        ours.data, eight.data,
        "the 16-bit path should not round to 8 bits"
    );
}

#[test]
fn sixteen_bit_and_rgba_png_files_load() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (w, h) = (40, 30);
    let g = gradient(w, h);
    let path16 = dir.join("gray16.png");
    ImageBuffer::<Luma<u16>, _>::from_fn(w, h, |x, y| Luma([g(x, y) as u16 * 257]))
        .save(&path16)
        .unwrap();
    let path_rgba = dir.join("rgba.png");
    ImageBuffer::<Rgba<u8>, _>::from_fn(w, h, |x, y| Rgba([g(x, y), g(x, y), g(x, y), 128]))
        .save(&path_rgba)
        .unwrap();
    let a = load_image(&path16, 32, Normalization::SymmetricUnit).unwrap();
    let b = load_image(&path_rgba, 32, Normalization::SymmetricUnit).unwrap();
    assert_eq!(a.data.len(), 3 * 32 * 32);
    assert!(max_abs_diff(&a.data, &b.data) <= 1.0 / 127.5 + 1e-6);
}

#[test]
fn one_pixel_image_becomes_a_constant_input() {
    let image = DynamicImage::ImageLuma8(ImageBuffer::from_pixel(1, 1, Luma([51])));
    let ours = preprocess(&image, 256, Normalization::SymmetricUnit);
    let expected = vec![51.0 / 127.5 - 1.0; ours.data.len()];
    assert_close(&ours.data, &expected, 1e-6, "1x1 image");
}

#[test]
fn corrupt_truncated_and_missing_files_are_errors_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let corrupt = dir.join("corrupt.png");
    std::fs::write(&corrupt, b"\x89PNG\r\n\x1a\nthis is not a png").unwrap();
    let source = std::fs::read(fixture("resize_src_rgb.png")).unwrap();
    let truncated = dir.join("truncated.png");
    std::fs::write(&truncated, &source[..source.len() / 2]).unwrap();
    let text = dir.join("notes.jpg");
    std::fs::write(&text, "hello").unwrap();
    for path in [&corrupt, &truncated, &text] {
        let err = load_image(path, 64, Normalization::ImageNet).unwrap_err();
        assert!(matches!(err, ImageError::Image { .. }), "{path:?}: {err}");
        assert!(err.to_string().contains(path.to_str().unwrap()), "{err}");
    }
    let missing = dir.join("missing.png");
    let err = load_image(&missing, 64, Normalization::ImageNet).unwrap_err();
    assert!(matches!(err, ImageError::Io { .. }), "{err}");
    assert!(err.to_string().contains("missing.png"));
}
