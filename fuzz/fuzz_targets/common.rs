#![allow(dead_code)] // each target uses a part
//! Shared by the fuzz targets: a per-process scratch folder, and the checksum the file formats
//! carry (appended by the targets so that inputs reach the parsers behind it).

use std::path::PathBuf;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// A scratch folder for this process (fuzzing jobs run side by side).
pub fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("wscxr-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch folder");
        dir
    })
}

/// `body` followed by its SHA-256: a random body with a wrong checksum would stop at the
/// checksum test and never reach the parser.
pub fn with_checksum(body: &[u8]) -> Vec<u8> {
    let mut bytes = body.to_vec();
    bytes.extend_from_slice(&Sha256::digest(body));
    bytes
}

/// The checkout this crate lives in (for the bundled weights and images).
pub fn checkout() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}
