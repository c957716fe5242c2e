//! Hospital inputs: DICOM files (`assets/quickstart/test-dicom`, written from the quickstart's
//! PNGs by `tests/fixtures/dicom/make_dicom.py`), radiographs handed over in memory, and the
//! heatmaps drawn from them. No ../shared needed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::prelude::*;
use wscxr::backbone::{Normalization, load_image};
use wscxr::{Radiograph, TrainingSet, Wscxr, WscxrConfig, Xray, list_images};

use crate::common::*;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Each DICOM X-ray with the PNG it was written from.
fn dicom_and_png() -> Vec<(PathBuf, PathBuf)> {
    let mut pairs = Vec::new();
    for class in ["normal", "anomaly"] {
        let dir = root().join("assets/quickstart/test-dicom").join(class);
        for dcm in list_images(&dir).unwrap() {
            let stem = dcm.file_stem().unwrap().to_str().unwrap().to_string();
            let png = root()
                .join("assets/quickstart/test")
                .join(class)
                .join(format!("{stem}.png"));
            assert!(png.is_file(), "{} has no PNG", dcm.display());
            pairs.push((dcm, png));
        }
    }
    assert_eq!(pairs.len(), 12, "the fixture folder is incomplete");
    pairs
}

/// Every encoding (8-bit windowed, 12-bit MONOCHROME1, 16-bit rescaled and windowed, RLE,
/// JPEG 2000, deflate) reads to exactly the PNG's pixels (display values are quantised to 8 bits;
/// the 12-bit file's rounding, at most 0.5/4095, stays under half a gray level), so the network
/// input, and with it every feature, is identical.
#[test]
fn dicom_xrays_read_to_the_pixels_of_their_pngs() {
    for (dcm, png) in dicom_and_png() {
        let ours = Radiograph::read(&dcm).unwrap().pixels().to_luma8();
        let expected = image::open(&png).unwrap().to_luma8();
        assert_eq!(ours.dimensions(), expected.dimensions());
        let differing = ours
            .pixels()
            .zip(expected.pixels())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(differing, 0, "{}: {differing} pixels differ", dcm.display());
        let input = load_image(&dcm, 256, Normalization::SymmetricUnit).unwrap();
        let reference = load_image(&png, 256, Normalization::SymmetricUnit).unwrap();
        assert_close(
            &input.data,
            &reference.data,
            0.0,
            &dcm.display().to_string(),
        );
    }
}

#[test]
fn without_voi_attributes_the_percentile_window_applies() {
    let dcm = root().join("tests/fixtures/dicom/mono2_8bit_no_window.dcm");
    let png = root().join("assets/quickstart/test/anomaly/person115_virus_219.png");
    let x: Vec<f64> = image::open(png)
        .unwrap()
        .to_luma8()
        .pixels()
        .map(|p| p.0[0] as f64)
        .collect();
    let mut sorted = x.clone();
    sorted.sort_by(f64::total_cmp);
    let at = |per_mille: usize| sorted[(sorted.len() - 1) * per_mille / 1000];
    let (low, high) = (at(5), at(995));
    assert!(high - low > 100.0, "the fixture has contrast to stretch");
    let ours = Radiograph::read(&dcm).unwrap().pixels().to_luma8();
    for (value, pixel) in x.iter().zip(ours.pixels()) {
        let expected = ((value - low) / (high - low)).clamp(0.0, 1.0) * 255.0;
        let got = pixel.0[0] as f64;
        // Rounded to 8 bits: within half a level, and a tie may go either way.
        assert!(
            (got - expected).abs() <= 0.5 + 1e-9,
            "{value}: {got} vs {expected}"
        );
    }
}

/// Small files through each step of the grayscale pipeline (signed values, VOI LUTs of 8 bits
/// and of 12 bits declared as 16, SIGMOID, LINEAR_EXACT and width-1 LINEAR windows, Presentation
/// LUT Shape INVERSE with MONOCHROME2 and MONOCHROME1, data sets without the Part 10 header in
/// implicit and explicit VR little endian and explicit VR big endian) read to exactly the pixels
/// pydicom reads them to (`make_dicom.py pipeline` writes both).
#[test]
fn dicom_pipeline_fixtures_read_like_pydicom() {
    let dir = root().join("tests/fixtures/dicom/pipeline");
    let mut names = Vec::new();
    for dcm in list_images(&dir).unwrap() {
        if dcm.extension().is_some_and(|e| e == "png") {
            continue;
        }
        let ours = Radiograph::read(&dcm)
            .unwrap_or_else(|e| panic!("{e}"))
            .pixels()
            .to_luma8();
        let expected = image::open(dcm.with_extension("png")).unwrap().to_luma8();
        assert_eq!(ours.dimensions(), expected.dimensions());
        let differing: Vec<(u8, u8)> = ours
            .pixels()
            .zip(expected.pixels())
            .filter(|(a, b)| a != b)
            .map(|(a, b)| (a.0[0], b.0[0]))
            .collect();
        assert!(
            differing.is_empty(),
            "{}: {} pixels differ (ours, pydicom): {:?}",
            dcm.display(),
            differing.len(),
            &differing[..differing.len().min(8)]
        );
        names.push(dcm.file_stem().unwrap().to_string_lossy().into_owned());
    }
    assert_eq!(
        names,
        [
            "linear_exact",
            "linear_width_1",
            "mono1_inverse",
            "no_meta_explicit_be",
            "no_meta_explicit_le",
            "no_meta_implicit_le",
            "presentation_inverse",
            "sigmoid",
            "signed_12bit",
            "voi_lut_12_in_16",
            "voi_lut_8bit",
        ]
    );
}

/// Each bad file is an error that names the file and says what is wrong.
#[test]
fn bad_dicom_files_are_clear_errors() {
    let bad = root().join("tests/fixtures/dicom/bad");
    for (file, says) in [
        ("no_pixel_data.dcm", "no pixel data"),
        ("two_frames.dcm", "2 frames"),
        ("jpeg_ls.dcm", "1.2.840.10008.1.2.4.80"),
        ("rgb.dcm", "RGB"),
        ("truncated.dcm", "DICOM"),
        ("malformed_voi_lut.dcm", "VOI LUT Sequence"),
        ("unknown_voi_function.dcm", "VOI LUT Function \"LOG\""),
        ("high_bit.dcm", "High Bit 15"),
        (
            "unknown_presentation_shape.dcm",
            "Presentation LUT Shape \"LOG\"",
        ),
    ] {
        let path = bad.join(file);
        let err = load_image(&path, 64, Normalization::SymmetricUnit)
            .expect_err(file)
            .to_string();
        assert!(err.contains(file), "{file}: error does not name it: {err}");
        assert!(err.contains(says), "{file}: expected '{says}' in: {err}");
    }
}

/// Damaged copies of a real DICOM file (cut anywhere, bytes flipped in its header and pixel
/// description) are errors or images of the declared size; never a panic.
/// Bytes in memory (a service's request body) decode as the file they came from would: every
/// DICOM fixture, every quickstart PNG, and a JPEG; bytes of no image kind are `Unrecognised`.
#[test]
fn bytes_in_memory_decode_as_their_files() {
    use wscxr::input::{ImageError, ImageKind};
    let mut files: Vec<PathBuf> = dicom_and_png()
        .into_iter()
        .flat_map(|(d, p)| [d, p])
        .collect();
    let pipeline = root().join("tests/fixtures/dicom/pipeline");
    files.extend(
        list_images(&pipeline)
            .unwrap()
            .into_iter()
            .filter(|f| f.extension().is_some_and(|e| e == "dcm")),
    );
    let jpeg = std::env::temp_dir().join(format!("wscxr-bytes-{}.jpg", std::process::id()));
    Radiograph::read(&files[1])
        .unwrap()
        .pixels()
        .to_luma8()
        .save(&jpeg)
        .unwrap();
    files.push(jpeg.clone());
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let expected = Radiograph::read(file).unwrap();
        let decoded = Radiograph::from_bytes(file.display().to_string(), &bytes).unwrap();
        assert_eq!(decoded, expected, "{}", file.display());
        let dicom = file.extension().is_some_and(|e| e == "dcm");
        assert_eq!(
            ImageKind::of(&bytes) == Some(ImageKind::Dicom),
            dicom,
            "{}",
            file.display()
        );
        if dicom {
            let as_dicom =
                Radiograph::from_dicom_bytes(file.display().to_string(), &bytes).unwrap();
            assert_eq!(as_dicom, expected, "{}", file.display());
        }
    }
    std::fs::remove_file(&jpeg).ok();
    let error = Radiograph::from_bytes("upload", b"GIF89a and more").unwrap_err();
    assert!(matches!(error, ImageError::Unrecognised { .. }), "{error}");
    assert!(error.to_string().contains("upload"), "{error}");
}

/// pydicom's `no_meta.dcm` is a data set shifted by one byte: its first element reads as
/// (0820,0500), outside group 0008 where a data set without Part 10 header starts (this shifted
/// fixture starts with (0008,0016), read as (0820,1600)). Such a `.dcm`
/// file is refused as not readable DICOM, saying why, and not by its extension.
#[test]
fn a_dcm_file_that_is_not_dicom_says_why() {
    let fixture = root().join("tests/fixtures/dicom/pipeline/no_meta_implicit_le.dcm");
    let mut shifted = vec![b' '];
    shifted.extend(std::fs::read(&fixture).unwrap());
    let file = std::env::temp_dir().join(format!("wscxr-no-meta-{}.dcm", std::process::id()));
    std::fs::write(&file, &shifted).unwrap();
    let error = Radiograph::read(&file).unwrap_err().to_string();
    std::fs::remove_file(&file).ok();
    assert!(error.contains("not readable DICOM"), "{error}");
    assert!(error.contains("(0820,1600)"), "{error}");
    assert!(error.contains(&file.display().to_string()), "{error}");
    assert!(!error.contains("extension"), "{error}");
    let sent = Radiograph::from_dicom_bytes("upload", &shifted)
        .unwrap_err()
        .to_string();
    assert_eq!(
        sent.split("upload").nth(1),
        error.split(&file.display().to_string()).nth(1),
        "{sent}"
    );
}

#[test]
fn damaged_dicom_files_never_panic() {
    let source = root().join("assets/quickstart/test-dicom/normal/IM-0555-0001.dcm");
    let intact = std::fs::read(&source).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("damaged.dcm");
    let header_end = 1200.min(intact.len());
    let mut mutants = 0;
    let mut refused = 0;
    let mut check = |bytes: &[u8]| {
        std::fs::write(&path, bytes).unwrap();
        match Radiograph::read(&path) {
            Err(_) => refused += 1,
            Ok(image) => assert!(image.width() > 0 && image.height() > 0),
        }
        mutants += 1;
    };
    for cut in (0..intact.len()).step_by(211).chain(0..200) {
        check(&intact[..cut]);
    }
    for at in 128..header_end {
        let mut m = intact.clone();
        m[at] ^= if at % 2 == 0 { 0x01 } else { 0x80 };
        check(&m);
    }
    println!("{mutants} damaged files, {refused} refused");
    assert!(mutants > 1500 && refused > 700, "{mutants} / {refused}");
}

#[test]
fn folders_list_dicom_files_with_and_without_an_extension() {
    let tmp = tempfile::tempdir().unwrap();
    let dcm = root().join("assets/quickstart/test-dicom/normal/IM-0269-0001.dcm");
    std::fs::copy(&dcm, tmp.path().join("a.dcm")).unwrap();
    std::fs::copy(&dcm, tmp.path().join("1.2.840.113619.2.55")).unwrap();
    std::fs::copy(&dcm, tmp.path().join("B")).unwrap();
    std::fs::write(tmp.path().join("README"), "not an image").unwrap();
    std::fs::copy(
        root().join("assets/quickstart/test/normal/IM-0269-0001.png"),
        tmp.path().join("c.png"),
    )
    .unwrap();
    let names: Vec<String> = list_images(tmp.path())
        .unwrap()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // "1.2.840.113619.2.55" has an "extension" (55) by Rust's rules, "B" has none: both are
    // DICOM by content; README is not.
    assert_eq!(names, ["1.2.840.113619.2.55", "B", "a.dcm", "c.png"]);
    let only_readme = tempfile::tempdir().unwrap();
    std::fs::write(only_readme.path().join("README"), "x").unwrap();
    assert!(list_images(only_readme.path()).is_err());
}

fn quickstart_config() -> WscxrConfig {
    let mut config = WscxrConfig::default();
    config.train.epochs = 5;
    config
}

/// Radiographs handed over in memory fit and score exactly like the files they were decoded
/// from; the DICOM folder scores like the PNG folder; heatmaps come out at the input's size.
#[test]
fn memory_and_dicom_inputs_score_like_png_files() {
    let device = Device::flex();
    let assets = root().join("assets/quickstart");
    let normals = list_images(assets.join("train/normal")).unwrap();
    let abnormals = list_images(assets.join("train/anomaly")).unwrap();
    let decode = |paths: &[PathBuf]| -> Vec<Radiograph> {
        paths
            .iter()
            .map(|p| {
                let gray = image::open(p).unwrap().to_luma8();
                let (w, h) = gray.dimensions();
                Radiograph::gray8(format!("upload:{}", p.display()), w, h, gray.into_raw()).unwrap()
            })
            .collect()
    };
    let from_files = Wscxr::new(quickstart_config())
        .unwrap()
        .fit(&TrainingSet::new(&normals, &abnormals), &device)
        .unwrap();
    let from_memory = Wscxr::new(quickstart_config())
        .unwrap()
        .fit(
            &TrainingSet::new(decode(&normals), decode(&abnormals)),
            &device,
        )
        .unwrap();

    let (pngs, dicoms): (Vec<PathBuf>, Vec<PathBuf>) =
        dicom_and_png().into_iter().map(|(d, p)| (p, d)).unzip();
    let scores =
        |scored: Vec<wscxr::ScoredImage>| -> Vec<f32> { scored.iter().map(|s| s.score).collect() };
    let png_scores = scores(from_files.score(&pngs).unwrap());
    assert!(png_scores.iter().all(|s| s.is_finite()), "{png_scores:?}");
    let in_memory: Vec<Arc<Radiograph>> = decode(&pngs).into_iter().map(Arc::new).collect();
    assert_eq!(
        scores(from_memory.score(in_memory.iter().cloned()).unwrap()),
        png_scores,
        "a fit and scores from memory equal those from the files"
    );
    assert_eq!(
        scores(from_files.score(&dicoms).unwrap()),
        png_scores,
        "the DICOM folder scores exactly like the PNGs it was written from"
    );

    // The scored image carries the radiograph back; its heatmap keeps its size and shape.
    let scored = from_files.score(in_memory.iter().cloned()).unwrap();
    let Xray::Decoded(radiograph) = &scored[0].xray else {
        panic!("an in-memory image came back as a file");
    };
    assert!(Arc::ptr_eq(radiograph, &in_memory[0]), "not copied");
    let heatmap = from_files.heatmap(radiograph, &scored[0]).unwrap();
    assert_eq!(heatmap.height(), radiograph.height());
    assert!(
        heatmap.width() > radiograph.width(),
        "room for the colour bar"
    );
    let wide = Radiograph::new(
        "wide",
        image::DynamicImage::ImageLuma8(radiograph.pixels().to_luma8()).crop_imm(0, 0, 224, 150),
    )
    .unwrap();
    let scored = from_files.score([wide.clone()]).unwrap();
    let picture = from_files.heatmap(&wide, &scored[0]).unwrap();
    assert_eq!(picture.height(), 150);
    let scale = from_files.colour_scale();
    assert!(scale.low < scale.high, "{scale:?}");
}
