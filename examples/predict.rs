//! Scores X-ray files or folders (PNG, JPEG, DICOM) with a saved detector; writes heatmaps and a
//! CSV of scores, a few images at a time, so that memory stays flat however many there are.
//!
//! ```text
//! cargo run --release --example predict -- --detector quickstart-out/detector.wscxr \
//!     [--out predict-out] IMAGE_OR_FOLDER...
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use wscxr::progress::ProgressBars;
use wscxr::{Detector, ImageOutputs, list_images};

#[derive(Parser)]
#[command(about = "Score X-rays with a saved WSCXR detector")]
struct Args {
    /// A detector saved by `Detector::save` (the quickstart writes one).
    #[arg(long)]
    detector: PathBuf,
    /// Where heatmaps and scores.csv go.
    #[arg(long, default_value = "predict-out")]
    out: PathBuf,
    /// burn backend: flex, ndarray or wgpu.
    #[arg(long, default_value = "flex")]
    backend: String,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Image files and folders of images.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    // Every flag is checked before the detector is loaded or any image read.
    if !args.detector.is_file() {
        return Err(format!("--detector: {}: no such file", args.detector.display()).into());
    }
    let device = wscxr::device::device(&args.backend).map_err(|e| format!("--backend: {e}"))?;
    let mut paths = Vec::new();
    for input in &args.inputs {
        if input.is_dir() {
            paths.extend(list_images(input)?);
        } else if input.is_file() {
            paths.push(input.clone());
        } else {
            return Err(format!("{}: no such file or folder", input.display()).into());
        }
    }
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("--out: {}: {e}", args.out.display()))?;
    let detector = Detector::load(&args.detector, &device)?;
    let mut csv = csv::Writer::from_path(args.out.join("scores.csv"))?;
    csv.write_record(["path", "score", "normalized", "abnormal", "heatmap"])?;
    let mut progress = ProgressBars::new(args.quiet);
    let outputs = ImageOutputs {
        heatmaps: Some(args.out.clone()),
        ..ImageOutputs::default()
    };
    detector.score_files(&paths, &outputs, &mut progress, |image, heatmap| {
        let optional = |v: Option<String>| v.unwrap_or_default();
        csv.write_record([
            image.xray.to_string(),
            image.score.to_string(),
            optional(image.normalized.map(|n| n.to_string())),
            optional(image.abnormal.map(|a| a.to_string())),
            heatmap.map(|f| f.display().to_string()).unwrap_or_default(),
        ])
        .map_err(|e| wscxr::WscxrError::Data {
            path: args.out.join("scores.csv"),
            reason: e.to_string(),
        })
    })?;
    progress.finish();
    csv.flush()?;
    println!(
        "scored {} images; scores.csv and heatmaps in {}/",
        paths.len(),
        args.out.display()
    );
    Ok(())
}
