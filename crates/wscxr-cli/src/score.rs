//! `wscxr score`: score X-rays with a saved detector, streaming one CSV row per image.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;
use wscxr::{Detector, list_images};

use crate::progress::Bars;
use crate::shard::Shard;

/// Flags of `wscxr score`.
#[derive(clap::Args)]
pub struct Args {
    /// A detector saved by `wscxr fit` (or `Detector::save`).
    #[arg(long)]
    detector: PathBuf,
    /// Where the CSV goes; standard output without it.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Score only part I of N (from 0) of the inputs, in their listed order; the parts' CSVs
    /// concatenated in order are the unsharded CSV (only part 0 writes the header).
    #[arg(long, default_value = "0/1")]
    shard: Shard,
    /// burn backend: flex, ndarray or wgpu.
    #[arg(long, default_value = "flex")]
    backend: String,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Image files and folders of images (a folder's images in name order).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
}

/// One CSV row.
#[derive(Serialize)]
struct Row<'a> {
    path: &'a str,
    /// The raw score (maximum patch score).
    score: f32,
    /// Calibrated detectors: the score's place among normal validation scores, in [0, 1].
    normalized: Option<f32>,
    /// Calibrated detectors: whether the score reaches the stored threshold.
    abnormal: Option<bool>,
}

/// Runs `wscxr score`.
pub fn run(args: &Args) -> Result<(), String> {
    if !args.detector.is_file() {
        return Err(format!(
            "--detector: {}: no such file",
            args.detector.display()
        ));
    }
    let device = wscxr::device::device(&args.backend).map_err(|e| format!("--backend: {e}"))?;
    let mut paths = Vec::new();
    for input in &args.inputs {
        if input.is_dir() {
            paths.extend(list_images(input).map_err(|e| e.to_string())?);
        } else if input.is_file() {
            paths.push(input.clone());
        } else {
            return Err(format!("{}: no such file or folder", input.display()));
        }
    }
    let paths = &paths[args.shard.range(paths.len())];
    let out: Box<dyn Write> = match &args.csv {
        Some(path) => Box::new(
            std::fs::File::create(path).map_err(|e| format!("--csv: {}: {e}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut csv = csv::WriterBuilder::new()
        .has_headers(args.shard.is_first())
        .from_writer(out);
    let detector = Detector::load(&args.detector, &device).map_err(|e| e.to_string())?;
    tracing::info!(images = paths.len(), shard = ?args.shard, "scoring");
    let mut bars = Bars::new(args.quiet);
    detector
        .score_each(paths, &mut bars, |image| {
            let path = image.path.to_string_lossy();
            csv.serialize(Row {
                path: &path,
                score: image.score,
                normalized: image.normalized,
                abnormal: image.abnormal,
            })
            .map_err(|e| wscxr::WscxrError::Data {
                path: image.path.clone(),
                reason: format!("cannot write its CSV row: {e}"),
            })
        })
        .map_err(|e| e.to_string())?;
    bars.finish();
    csv.flush().map_err(|e| format!("--csv: {e}"))?;
    Ok(())
}
