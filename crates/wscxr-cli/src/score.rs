//! `wscxr score`: score X-rays with a saved detector, streaming one CSV row per image.

use std::io::Write;
use std::path::{Path, PathBuf};

use wscxr::localisation::Boxes;
use wscxr::progress::ProgressBars;
use wscxr::{Detector, ImageOutputs, ScoredImage, Timings, WscxrError, list_images};

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
    /// Also draw each image's heatmap into this folder, at the image's own resolution, on the
    /// detector's fixed colour scale, with a colour bar.
    #[arg(long)]
    heatmaps: Option<PathBuf>,
    /// Also write each image's anomaly map into this folder as `<file stem>.npy`: float32,
    /// shape (height, width) of the image, in the detector's score units (the map the heatmap
    /// draws).
    #[arg(long)]
    maps: Option<PathBuf>,
    /// Radiologists' boxes (CSV with columns image,finding,x,y,w,h in the image's pixels), drawn
    /// over the heatmaps of the images they name.
    #[arg(long, requires = "heatmaps")]
    boxes: Option<PathBuf>,
    /// Put the detector's backbone weights into the weights folder (`$WSCXR_WEIGHTS_DIR`, else
    /// the user's cache), so that a self-contained detector's weights stay on this machine.
    /// Loading alone writes nothing.
    #[arg(long)]
    store_weights: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Print where the time went (decode, forward, scoring, writing, ...) on standard error at
    /// the end.
    #[arg(long)]
    timings: bool,
    /// Image files and folders of images (a folder's images in name order).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
}

/// The CSV columns: the raw score (maximum patch score) and, for calibrated detectors, the
/// score's place among the normal validation scores and the decision (empty otherwise); with
/// `--heatmaps`, the heatmap's file.
const HEADER: [&str; 5] = ["path", "score", "normalized", "abnormal", "heatmap"];

/// One image's CSV record.
fn record(image: &ScoredImage, heatmap: Option<&Path>) -> Vec<String> {
    let optional = |v: Option<String>| v.unwrap_or_default();
    let mut record = vec![
        image.xray.name().into_owned(),
        image.score.to_string(),
        optional(image.normalized.map(|n| n.to_string())),
        optional(image.abnormal.map(|a| a.to_string())),
    ];
    if let Some(path) = heatmap {
        record.push(path.display().to_string());
    }
    record
}

/// Runs `wscxr score`.
pub fn run(args: &Args) -> Result<(), String> {
    let mut bars = ProgressBars::new(args.quiet);
    let mut timings = Timings::new(&mut bars);
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
    let range = args.shard.range(paths.len());
    let first_index = range.start;
    let paths = &paths[range];
    let outputs = ImageOutputs {
        heatmaps: args.heatmaps.clone(),
        maps: args.maps.clone(),
        first_index,
        ..ImageOutputs::default()
    };
    outputs.check(paths).map_err(|e| format!("--maps: {e}"))?;
    let outputs = ImageOutputs {
        boxes: match &args.boxes {
            Some(file) => Some(Boxes::read(file).map_err(|e| format!("--boxes: {e}"))?),
            None => None,
        },
        ..outputs
    };
    let out: Box<dyn Write> = match &args.csv {
        Some(path) => Box::new(
            std::fs::File::create(path).map_err(|e| format!("--csv: {}: {e}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut csv = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(out);
    let columns = if args.heatmaps.is_some() { 5 } else { 4 };
    if args.shard.is_first() {
        csv.write_record(&HEADER[..columns])
            .map_err(|e| format!("--csv: {e}"))?;
    }
    let detector = Detector::load(&args.detector, &device).map_err(|e| e.to_string())?;
    if args.store_weights {
        let store = wscxr::WeightsStore::from_env().map_err(|e| format!("--store-weights: {e}"))?;
        let stored = detector
            .store_weights(&store)
            .map_err(|e| format!("--store-weights: {e}"))?;
        tracing::info!(weights = %stored.display(), "stored the backbone weights");
    }
    tracing::info!(images = paths.len(), shard = ?args.shard, "scoring");
    let mut write = |image: &ScoredImage, heatmap: Option<&Path>| {
        csv.write_record(record(image, heatmap))
            .map_err(|e| WscxrError::Data {
                path: args.csv.clone().unwrap_or_else(|| "standard output".into()),
                reason: format!("cannot write a CSV row: {e}"),
            })
    };
    detector
        .score_files(paths, &outputs, &mut timings, |image, heatmap| {
            write(image, heatmap)
        })
        .map_err(|e| e.to_string())?;
    let table = args.timings.then(|| timings.table());
    bars.finish();
    if let Some(table) = table {
        eprint!("{table}");
    }
    csv.flush().map_err(|e| format!("--csv: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wscxr::Xray;

    fn csv_line(image: &ScoredImage) -> String {
        let mut csv = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::new());
        csv.write_record(record(image, None)).unwrap();
        String::from_utf8(csv.into_inner().unwrap()).unwrap()
    }

    #[test]
    fn a_path_with_a_comma_or_quote_survives() {
        let image = |path: &str| ScoredImage {
            xray: Xray::from(path),
            score: 0.5,
            normalized: Some(0.25),
            abnormal: Some(false),
            patch_scores: Vec::new(),
            grid: [1, 1],
            map_settings: wscxr::MapSettings {
                input_size: 1,
                sigma: 0.0,
            },
        };
        assert_eq!(csv_line(&image("/a/b.png")), "/a/b.png,0.5,0.25,false\n");
        let awkward = "/scans/smith, john/\"x\".png";
        let line = csv_line(&image(awkward));
        assert_eq!(
            line,
            "\"/scans/smith, john/\"\"x\"\".png\",0.5,0.25,false\n"
        );
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(line.as_bytes());
        let back = reader.records().next().unwrap().unwrap();
        assert_eq!(&back[0], awkward);
        let plain = ScoredImage {
            normalized: None,
            abnormal: None,
            ..image("a.png")
        };
        assert_eq!(csv_line(&plain), "a.png,0.5,,\n");
    }
}
