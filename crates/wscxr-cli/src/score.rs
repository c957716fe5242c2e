//! `wscxr score`: score X-rays with a saved detector, streaming one CSV row per image.

use std::io::Write;
use std::path::PathBuf;

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

/// The CSV columns: the raw score (maximum patch score) and, for calibrated detectors, the
/// score's place among the normal validation scores and the decision (empty otherwise).
const HEADER: &str = "path,score,normalized,abnormal";

/// A CSV field as RFC 4180 writes it: quoted, with quotes doubled, when it holds a comma, a quote
/// or a line break. (The `csv` crate would do the same, but it turns on a feature of `serde_core`
/// that every burn crate depends on, so adding it rebuilds all of burn.)
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// One image's CSV line.
fn row(image: &wscxr::ScoredImage) -> String {
    let optional = |v: Option<String>| v.unwrap_or_default();
    format!(
        "{},{},{},{}\n",
        field(&image.path.to_string_lossy()),
        image.score,
        optional(image.normalized.map(|n| n.to_string())),
        optional(image.abnormal.map(|a| a.to_string()))
    )
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
    let mut csv = std::io::BufWriter::new(out);
    if args.shard.is_first() {
        writeln!(csv, "{HEADER}").map_err(|e| format!("--csv: {e}"))?;
    }
    let detector = Detector::load(&args.detector, &device).map_err(|e| e.to_string())?;
    tracing::info!(images = paths.len(), shard = ?args.shard, "scoring");
    let mut bars = Bars::new(args.quiet);
    detector
        .score_each(paths, &mut bars, |image| {
            csv.write_all(row(&image).as_bytes())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_with_a_comma_or_quote_survives() {
        let image = |path: &str| wscxr::ScoredImage {
            path: path.into(),
            score: 0.5,
            normalized: Some(0.25),
            abnormal: Some(false),
            patch_scores: Vec::new(),
            grid: [1, 1],
        };
        assert_eq!(row(&image("/a/b.png")), "/a/b.png,0.5,0.25,false\n");
        assert_eq!(
            row(&image("/scans/smith, john/\"x\".png")),
            "\"/scans/smith, john/\"\"x\"\".png\",0.5,0.25,false\n"
        );
        let plain = wscxr::ScoredImage {
            normalized: None,
            abnormal: None,
            ..image("a.png")
        };
        assert_eq!(row(&plain), "a.png,0.5,,\n");
    }
}
