//! Files that cannot hurt: damaged or hostile detector files and feature cache entries end in an
//! error (or, for the cache, a recomputation), never a panic, an abort or an allocation larger
//! than the file itself; saving is atomic; weights are hashed only from regular files.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use sha2::{Digest, Sha256};
use wscxr::Xray;
use wscxr::backbone::ExtractOptions;
use wscxr::{
    Detector, FeatureCache, LoadedBackbone, WscxrConfig, WscxrError, extract_features, file_sha256,
    list_images,
};

use crate::common::*;

fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/quickstart")
}

/// 128 px (a 4x4 grid), 2 epochs: a real detector file in a few seconds.
fn small_config() -> WscxrConfig {
    let mut config = WscxrConfig {
        image_size: 128,
        ..WscxrConfig::default()
    };
    config.train.epochs = 2;
    config
}

fn normals(n: usize) -> Vec<PathBuf> {
    list_images(assets().join("train/normal")).unwrap()[..n].to_vec()
}

fn abnormals(n: usize) -> Vec<PathBuf> {
    list_images(assets().join("train/anomaly")).unwrap()[..n].to_vec()
}

/// The sections of a detector file: prefix (20 bytes), header, payload, checksum (32 bytes).
struct Layout {
    header: std::ops::Range<usize>,
    payload: std::ops::Range<usize>,
}

fn layout(bytes: &[u8]) -> Layout {
    let header_len = u64::from_le_bytes(bytes[12..20].try_into().unwrap()) as usize;
    Layout {
        header: 20..20 + header_len,
        payload: 20 + header_len..bytes.len() - 32,
    }
}

/// The file with its header replaced by `header` and the checksum recomputed: what a hostile
/// writer who knows the format can produce.
fn resigned(bytes: &[u8], header: &[u8]) -> Vec<u8> {
    let l = layout(bytes);
    let mut out = bytes[..12].to_vec();
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(header);
    out.extend_from_slice(&bytes[l.payload]);
    let checksum = Sha256::digest(&out);
    out.extend_from_slice(&checksum);
    out
}

/// Writes `bytes` to a file and loads it.
fn load_bytes(dir: &Path, bytes: &[u8], device: &Device) -> Result<Detector, WscxrError> {
    let path = dir.join("mutant.wscxr");
    std::fs::write(&path, bytes).unwrap();
    Detector::load(&path, device)
}

#[track_caller]
fn assert_rejected(dir: &Path, bytes: &[u8], device: &Device, what: &str) {
    match load_bytes(dir, bytes, device) {
        Ok(_) => panic!("{what}: a damaged detector file loaded"),
        Err(WscxrError::DetectorFile { path, .. }) => {
            assert!(path.ends_with("mutant.wscxr"), "{what}: names {path:?}")
        }
        Err(other) => panic!("{what}: expected a detector file error, got {other}"),
    }
}

#[test]
fn damaged_detector_files_are_errors_never_panics() {
    let device = Device::flex();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = small_config();
    let supervised = fit(&normals(6), &abnormals(2), &config, &device).unwrap();
    let unsupervised = fit(&normals(6), &[], &config, &device).unwrap();
    let mut mutants = 0;
    for (name, detector) in [("linear", &supervised), ("patchcore", &unsupervised)] {
        let file = dir.join(format!("{name}.wscxr"));
        detector.save(&file).unwrap();
        let bytes = std::fs::read(&file).unwrap();
        let l = layout(&bytes);
        Detector::load(&file, &device).expect("the intact file loads");

        // Every bit of the prefix and every byte of the header flipped; the payload and checksum
        // sampled (the bank's payload is large).
        let mut positions: Vec<usize> = (0..l.header.end).collect();
        positions.extend(l.payload.clone().step_by(97));
        positions.extend(l.payload.end..bytes.len());
        for &at in &positions {
            let bits: &[u8] = if at < 20 {
                &[1, 2, 4, 8, 16, 32, 64, 128]
            } else {
                &[0x10]
            };
            for &bit in bits {
                let mut m = bytes.clone();
                m[at] ^= bit;
                assert_rejected(dir, &m, &device, &format!("{name}: byte {at} ^ {bit:#x}"));
                mutants += 1;
            }
        }
        // Truncated at and around every section boundary, and to nothing.
        for boundary in [0, 8, 12, 20, l.header.end, l.payload.end, bytes.len()] {
            for cut in boundary.saturating_sub(1)..=boundary + 1 {
                if cut < bytes.len() {
                    assert_rejected(
                        dir,
                        &bytes[..cut],
                        &device,
                        &format!("{name}: cut at {cut}"),
                    );
                    mutants += 1;
                }
            }
        }
        // Extended by one byte, and by a second copy of the payload.
        let mut longer = bytes.clone();
        longer.push(0);
        assert_rejected(dir, &longer, &device, &format!("{name}: one byte more"));
        let mut doubled = bytes.clone();
        doubled.extend_from_slice(&bytes[l.payload.clone()]);
        assert_rejected(dir, &doubled, &device, &format!("{name}: payload twice"));
        // The header length set to huge values: rejected before any allocation of that size.
        for huge in [
            u64::MAX,
            1 << 62,
            1 << 40,
            (1 << 20) + 1,
            bytes.len() as u64,
        ] {
            let mut m = bytes.clone();
            m[12..20].copy_from_slice(&huge.to_le_bytes());
            assert_rejected(dir, &m, &device, &format!("{name}: header length {huge}"));
            mutants += 1;
        }
        mutants += 2;
    }
    println!("{mutants} damaged files rejected");
    assert!(mutants > 2000, "only {mutants} mutants");
}

/// A header re-signed with a valid checksum but hostile sizes: each is refused by the header
/// checks before its sizes are used (a `dim` of 2^60 would otherwise abort on allocation).
#[test]
fn hostile_headers_with_valid_checksums_are_refused() {
    let device = Device::flex();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = small_config();
    let mut mlp_config = config.clone();
    mlp_config.discriminator.hidden = vec![16];
    let mlp = fit(&normals(6), &abnormals(2), &mlp_config, &device).unwrap();
    let unsupervised = fit(&normals(6), &[], &config, &device).unwrap();
    for (name, detector) in [("mlp", &mlp), ("patchcore", &unsupervised)] {
        let file = dir.join(format!("{name}.wscxr"));
        detector.save(&file).unwrap();
        let bytes = std::fs::read(&file).unwrap();
        let l = layout(&bytes);
        let header: serde_json::Value = serde_json::from_slice(&bytes[l.header.clone()]).unwrap();
        // Re-signing the unchanged header gives a file that loads: the edits below are what fail.
        let same = resigned(&bytes, &serde_json::to_vec(&header).unwrap());
        load_bytes(dir, &same, &device).expect("re-signed unchanged header loads");

        let huge = serde_json::json!(1u64 << 60);
        let edits: Vec<(&str, serde_json::Value)> = vec![
            ("/dim", huge.clone()),
            ("/dim", serde_json::json!(1023)),
            ("/bank_rows", huge.clone()),
            ("/bank_rows", serde_json::json!(usize::MAX)),
            ("/payload_len", huge.clone()),
            (
                "/config/discriminator/hidden",
                serde_json::json!([1u64 << 40]),
            ),
            ("/config/discriminator/hidden", serde_json::json!([0])),
            ("/config/patch/patch_size", serde_json::json!(99999)),
            ("/config/patch/patch_size", serde_json::json!(4)),
            ("/config/patch/reduce_to", huge.clone()),
            ("/config/image_size", serde_json::json!(1u64 << 40)),
            ("/config/image_size", serde_json::json!(8)),
            ("/config/layers", serde_json::json!([])),
            ("/config/layers", serde_json::json!(["no_such_layer"])),
            ("/config/batch_size", serde_json::json!(0)),
            ("/scorer", serde_json::json!("something-else")),
            ("/backbone", serde_json::json!("densenet121")),
        ];
        let mut edits = edits;
        if name == "mlp" {
            // Valid widths, but far more parameters than the payload holds.
            edits.push((
                "/config/discriminator/hidden",
                serde_json::json!([4096, 4096]),
            ));
            edits.push(("/bank_rows", serde_json::json!(1)));
        }
        for (pointer, value) in edits {
            let mut edited = header.clone();
            *edited.pointer_mut(pointer).unwrap() = value.clone();
            let m = resigned(&bytes, &serde_json::to_vec(&edited).unwrap());
            assert_rejected(dir, &m, &device, &format!("{name}: {pointer} = {value}"));
        }
        // Unknown fields and a header that is not JSON.
        let mut extra = header.clone();
        extra["extra"] = serde_json::json!(1);
        let m = resigned(&bytes, &serde_json::to_vec(&extra).unwrap());
        assert_rejected(dir, &m, &device, &format!("{name}: unknown field"));
        let m = resigned(&bytes, b"{\"config\": [1, 2, ");
        assert_rejected(dir, &m, &device, &format!("{name}: broken JSON"));
    }
}

#[test]
fn weights_are_hashed_only_from_regular_files() {
    let tmp = tempfile::tempdir().unwrap();
    // /dev/zero never ends: reading it whole would exhaust memory.
    for path in [Path::new("/dev/zero"), tmp.path()] {
        let err = file_sha256(path).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        let config = WscxrConfig {
            weights: Some(path.to_path_buf()),
            ..small_config()
        };
        let err = LoadedBackbone::load(&config, &Device::flex()).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }
    // Streaming gives the same digest as hashing the bytes at once.
    let file = tmp.path().join("bytes");
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(&file, &bytes).unwrap();
    let expected: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(file_sha256(&file).unwrap(), expected);
}

#[test]
fn save_is_atomic_and_replaces_the_old_file() {
    let device = Device::flex();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let detector = fit(&normals(4), &[], &small_config(), &device).unwrap();
    let file = dir.join("d.wscxr");
    std::fs::write(&file, b"an older file").unwrap();
    detector.save(&file).unwrap();
    let names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("d.wscxr")],
        "no temporary file left"
    );
    Detector::load(&file, &device).unwrap();
    // A save that cannot complete leaves nothing behind and reports the file.
    let err = detector.save(dir.join("missing/d.wscxr")).unwrap_err();
    assert!(matches!(err, WscxrError::DetectorFile { .. }), "{err}");
    assert_eq!(std::fs::read_dir(dir).unwrap().count(), 1);
}

/// Symlinks planted under the temporary names a save could once be predicted to use
/// (`.NAME.PID-N.tmp`) are never written through: the victim they point at keeps its bytes.
#[cfg(unix)]
#[test]
fn save_never_writes_through_a_planted_symlink() {
    let device = Device::flex();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, b"precious").unwrap();
    // The old names counted saves and cache writes of this whole test binary: cover many.
    for n in 0..10_000 {
        let link = dir.join(format!(".d.wscxr.{}-{n}.tmp", std::process::id()));
        std::os::unix::fs::symlink(&victim, link).unwrap();
    }
    let detector = fit(&normals(4), &[], &small_config(), &device).unwrap();
    for _ in 0..3 {
        detector.save(dir.join("d.wscxr")).unwrap();
    }
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    Detector::load(dir.join("d.wscxr"), &device).unwrap();
}

/// Every file in `dir`, sorted.
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    all.sort();
    all
}

#[test]
fn damaged_cache_entries_are_recomputed_not_trusted() {
    let device = Device::flex();
    let config = small_config();
    let loaded = LoadedBackbone::load(&config, &device).unwrap();
    let (backbone, identity) = (loaded.backbone(), loaded.identity());
    let options = ExtractOptions {
        size: config.image_size,
        taps: config.layers.clone(),
        batch_size: 4,
    };
    let paths = Xray::files(&normals(2));
    let tmp = tempfile::tempdir().unwrap();
    let cache = FeatureCache::new(tmp.path()).unwrap();
    let extract = || {
        let maps = extract_features(
            backbone,
            &identity,
            &paths,
            &options,
            Some(&cache),
            |_, _| {},
        )
        .unwrap();
        host(maps.into_iter().next().unwrap())
    };
    let reference = host(
        extract_features(backbone, &identity, &paths, &options, None, |_, _| {})
            .unwrap()
            .remove(0),
    );
    let first = extract();
    assert_eq!(first.0, reference.0);
    assert_close(&first.1, &reference.1, 0.0, "features through the cache");
    let files = entries(tmp.path());
    assert_eq!(files.len(), 2, "one entry per image and tap");
    let intact = std::fs::read(&files[0]).unwrap();
    assert_close(
        &extract().1,
        &reference.1,
        0.0,
        "features read from the cache",
    );

    // Damage the first entry in several ways: each time the features come out right and the
    // entry is rewritten intact.
    let resign = |body: &[u8]| {
        let mut out = body.to_vec();
        out.extend_from_slice(&Sha256::digest(body));
        out
    };
    let body = &intact[..intact.len() - 32];
    let mut wrong_rank = body.to_vec();
    wrong_rank[8] = 2;
    let mut wrong_channels = body.to_vec();
    wrong_channels[9..17].copy_from_slice(&7u64.to_le_bytes());
    let mut huge_dims = body.to_vec();
    huge_dims[9..17].copy_from_slice(&(1u64 << 62).to_le_bytes());
    let mut flipped_value = intact.clone();
    flipped_value[100] ^= 0x04;
    let damaged: Vec<(&str, Vec<u8>)> = vec![
        ("a flipped bit", flipped_value),
        ("truncated", intact[..intact.len() / 2].to_vec()),
        ("empty", Vec::new()),
        ("rank 2, valid checksum", resign(&wrong_rank)),
        ("7 channels, valid checksum", resign(&wrong_channels)),
        ("2^62 channels, valid checksum", resign(&huge_dims)),
        ("rank byte only", resign(&body[..9])),
    ];
    for (what, bytes) in damaged {
        std::fs::write(&files[0], &bytes).unwrap();
        let again = extract();
        assert_eq!(again.0, reference.0, "{what}");
        assert_close(&again.1, &reference.1, 0.0, what);
        assert_eq!(
            std::fs::read(&files[0]).unwrap(),
            intact,
            "{what}: entry rewritten"
        );
    }
    assert_eq!(entries(tmp.path()), files, "no stray temporary files");
}

/// A loaded detector names its weights by hash only: a header whose `config.weights` points at a
/// file elsewhere (here, the right weights, outside the store) does not make the loader open it.
/// And a file larger than the format's largest is refused before anything is allocated for it.
#[test]
fn loading_never_follows_a_weights_path_nor_reads_an_oversized_file() {
    let device = Device::flex();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let weights = dir.join("elsewhere.bpk");
    let sha256 = full_precision_weights(&weights, &device);
    let config = WscxrConfig {
        weights: Some(weights.clone()),
        ..small_config()
    };
    let detector = fit(&normals(4), &[], &config, &device).unwrap();
    let file = dir.join("d.wscxr");
    detector.save(&file).unwrap();
    let empty = wscxr::WeightsStore::new(dir.join("empty-store"));
    let err = Detector::load_with(&file, &empty, &device)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&sha256),
        "named by hash, not found by path: {err}"
    );

    // Prefix of a real file, then a length past the format's largest: refused at once. The
    // file is sparse, so it takes no disk space.
    let bytes = std::fs::read(&file).unwrap();
    let huge = dir.join("huge.wscxr");
    std::fs::write(&huge, &bytes[..20]).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&huge)
        .unwrap()
        .set_len(6 << 30)
        .unwrap();
    let err = Detector::load_with(&huge, &empty, &device)
        .unwrap_err()
        .to_string();
    assert!(err.contains("larger than any detector file"), "{err}");
}
