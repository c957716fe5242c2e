//! Image folders, and the few-shot draw from them.

use std::path::{Path, PathBuf};

use wscxr_image::dicom::is_dicom_file;

use crate::WscxrError;

/// The X-ray files directly inside `dir`, sorted by name: PNG and JPEG (`.png`, `.jpg`, `.jpeg`),
/// DICOM (`.dcm`, `.dicom`, and any other name whose file starts with DICOM's `DICM` preamble:
/// PACS exports name files by their UID, `1.2.840.113619.2.55.3...`, or give them no extension).
/// A missing folder, a file where a folder is expected, or a folder without images is an error
/// naming the folder.
pub fn list_images(dir: impl AsRef<Path>) -> Result<Vec<PathBuf>, WscxrError> {
    let dir = dir.as_ref();
    let data_error = |reason: String| WscxrError::Data {
        path: dir.to_path_buf(),
        reason,
    };
    if !dir.exists() {
        return Err(data_error("folder does not exist".into()));
    }
    if !dir.is_dir() {
        return Err(data_error("is not a folder".into()));
    }
    let entries = std::fs::read_dir(dir).map_err(|e| data_error(e.to_string()))?;
    let mut images = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| data_error(e.to_string()))?.path();
        // A name that is not a known image extension is decided by content.
        let known = path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
            matches!(
                e.to_ascii_lowercase().as_str(),
                "png" | "jpg" | "jpeg" | "dcm" | "dicom"
            )
        });
        let is_image = known || is_dicom_file(&path);
        if is_image && path.is_file() {
            images.push(path);
        }
    }
    if images.is_empty() {
        return Err(data_error(
            "holds no .png, .jpg, .jpeg or DICOM image".into(),
        ));
    }
    images.sort();
    Ok(images)
}

/// Refuses a K larger than the abnormal pool it is drawn from.
pub(crate) fn check_k(pool: &[PathBuf], k: usize) -> Result<(), WscxrError> {
    if k > pool.len() {
        return Err(WscxrError::invalid(
            "K",
            k,
            format!("the abnormal pool holds only {} images", pool.len()),
        ));
    }
    Ok(())
}

/// Draws `k` of `pool` without replacement with `seed` (kept in pool order), as the few-shot
/// abnormal set. Asking for more than the pool holds is an error.
pub fn draw_abnormal(pool: &[PathBuf], k: usize, seed: u64) -> Result<Vec<PathBuf>, WscxrError> {
    use rand::SeedableRng;
    check_k(pool, k)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut picked = rand::seq::index::sample(&mut rng, pool.len(), k).into_vec();
    picked.sort_unstable();
    Ok(picked.into_iter().map(|i| pool[i].clone()).collect())
}
