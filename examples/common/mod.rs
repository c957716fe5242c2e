//! Shared by the examples: heatmap pictures, and output names after inputs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use wscxr::{Detector, ScoredImage};

/// Writes one heatmap per scored image into `out` (named by `file_name(index, image)`), each at
/// its image's resolution on the detector's fixed colour scale; returns the files in order.
pub fn write_heatmaps(
    detector: &Detector,
    scored: &[ScoredImage],
    out: &Path,
    file_name: impl Fn(usize, &ScoredImage) -> String,
) -> Result<Vec<PathBuf>, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(out)?;
    let mut files = Vec::with_capacity(scored.len());
    for (i, image) in scored.iter().enumerate() {
        let file = out.join(file_name(i, image));
        // Free for a radiograph scored from memory; a file is read again.
        let radiograph = image.xray.decode()?;
        detector.heatmap(&radiograph, image)?.save(&file)?;
        files.push(file);
    }
    Ok(files)
}

/// A file's stem (or an in-memory image's name), for naming outputs after inputs.
pub fn stem(xray: &wscxr::Xray) -> String {
    let name = xray.name();
    Path::new(name.as_ref())
        .file_stem()
        .map_or_else(|| "image".into(), |s| s.to_string_lossy().into_owned())
}
