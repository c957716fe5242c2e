//! Shared by the examples: progress bars, heatmap overlays, backend choice.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use wscxr::{Detector, Observer, ScoredImage, Stage};

/// A progress bar per stage name, or nothing with `quiet`.
pub struct Progress {
    quiet: bool,
    prefix: String,
    bar: Option<(String, ProgressBar)>,
}

impl Observer for Progress {
    fn progress(&mut self, stage: Stage, done: usize, total: usize) {
        let name = format!("{}{stage}", self.prefix);
        self.update(&name, done, total);
    }
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        Self {
            quiet,
            prefix: String::new(),
            bar: None,
        }
    }

    /// Names the following stages `prefix` + stage, e.g. `K=4 seed=0 `.
    pub fn set_prefix(&mut self, prefix: impl Into<String>) {
        self.prefix = prefix.into();
    }

    /// Reports `done` of `total` in `stage`, starting a new bar when the stage changes.
    pub fn update(&mut self, stage: &str, done: usize, total: usize) {
        if self.quiet {
            return;
        }
        let fresh = !matches!(&self.bar, Some((name, _)) if name == stage);
        if fresh {
            if let Some((_, bar)) = self.bar.take() {
                bar.finish();
            }
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template("{msg:>18} [{bar:30}] {pos}/{len} {elapsed}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar.set_message(stage.to_string());
            self.bar = Some((stage.to_string(), bar));
        }
        if let Some((_, bar)) = &self.bar {
            bar.set_position(done as u64);
        }
    }

    pub fn finish(&mut self) {
        if let Some((_, bar)) = self.bar.take() {
            bar.finish();
        }
    }
}

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
