//! Scores image files or folders with a saved detector; writes heatmaps and a CSV of scores.
//!
//! ```text
//! cargo run --release --example predict -- --detector quickstart-out/detector.wscxr \
//!     [--out predict-out] [--threshold T] IMAGE_OR_FOLDER...
//! ```

mod common;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use wscxr::{Detector, list_images};

#[derive(Parser)]
#[command(about = "Score X-rays with a saved WSCXR detector")]
struct Args {
    /// A detector saved by `Detector::save` (the quickstart writes one).
    #[arg(long)]
    detector: PathBuf,
    /// Where heatmaps and scores.csv go.
    #[arg(long, default_value = "predict-out")]
    out: PathBuf,
    /// Call images scoring at least this abnormal in the CSV.
    #[arg(long)]
    threshold: Option<f32>,
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
    if let Some(t) = args.threshold
        && !t.is_finite()
    {
        return Err(format!("--threshold: {t} is not a finite score").into());
    }
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
    let mut progress = common::Progress::new(args.quiet);
    let scored = detector.score_observed(&paths, &mut progress)?;
    progress.finish();
    let size = detector.config().image_size;
    let heatmaps = common::write_heatmaps(&scored, size, &args.out, |i, s| {
        format!("{i:04}_{}_heatmap.png", common::stem(&s.path))
    })?;
    let mut csv = String::from("path,score,abnormal,heatmap\n");
    for (s, heatmap) in scored.iter().zip(&heatmaps) {
        let abnormal = args
            .threshold
            .map(|t| (s.score >= t).to_string())
            .unwrap_or_default();
        csv.push_str(&format!(
            "{},{},{},{}\n",
            s.path.display(),
            s.score,
            abnormal,
            heatmap.display()
        ));
    }
    std::fs::write(args.out.join("scores.csv"), csv)?;
    println!(
        "scored {} images; scores.csv and heatmaps in {}/",
        scored.len(),
        args.out.display()
    );
    Ok(())
}
