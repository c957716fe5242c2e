//! Feature cache entries, through the public `extract_features`: a cache folder holds the fuzzed
//! entry (input + its SHA-256, appended so that mutations reach the parser behind the checksum)
//! under the key of a real image; the call must return features or an error, never panic. A
//! damaged entry is recomputed (and rewritten), which keeps a real forward pass in the loop:
//! the image is small. Seed: the entry the backbone writes for that image (make_seeds).
#![no_main]

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wscxr::Xray;
use wscxr::backbone::ExtractOptions;
use wscxr::burn::prelude::Device;
use wscxr::{FeatureCache, LoadedBackbone, WscxrConfig, extract_features};

struct Setup {
    backbone: LoadedBackbone,
    cache: FeatureCache,
    image: PathBuf,
    entry: PathBuf,
    options: ExtractOptions,
}

/// Image size and tap: the smallest input, and the deepest tap (a 1024 x 2 x 2 map).
pub const SIZE: usize = 32;
pub const TAP: &str = "block13_out";

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let checkout = common::checkout();
        let config = WscxrConfig {
            weights: Some(checkout.join(wscxr::BUNDLED_XCEPTION)),
            ..WscxrConfig::default()
        };
        let backbone = LoadedBackbone::load(&config, &Device::flex()).expect("bundled weights");
        let cache = FeatureCache::new(common::scratch().join("cache")).expect("cache folder");
        let image = checkout.join("tests/fixtures/resize_src_rgb.png");
        let mut options = ExtractOptions::new([TAP]);
        options.size = SIZE;
        // The one entry this image and tap have: written by a first, uncached extraction.
        extract_features(
            backbone.backbone(),
            &backbone.identity(),
            &Xray::files(std::slice::from_ref(&image)),
            &options,
            Some(&cache),
            |_, _| {},
        )
        .expect("first extraction");
        let entries: Vec<PathBuf> = std::fs::read_dir(cache.dir())
            .expect("cache folder")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "feat"))
            .collect();
        assert_eq!(entries.len(), 1, "{entries:?}");
        Setup {
            backbone,
            cache,
            image,
            entry: entries[0].clone(),
            options,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let s = setup();
    std::fs::write(&s.entry, common::with_checksum(data)).expect("write");
    let _ = extract_features(
        s.backbone.backbone(),
        &s.backbone.identity(),
        &Xray::files(std::slice::from_ref(&s.image)),
        &s.options,
        Some(&s.cache),
        |_, _| {},
    );
});
