//! Trains WSCXR on the X-rays bundled under `assets/quickstart` with the bundled Xception weights,
//! scores the held-back images and writes heatmaps to `./quickstart-out/`.
//!
//! ```text
//! cargo run --release --example quickstart [-- --backend flex|ndarray|wgpu] [--quiet]
//! ```

mod common;

use std::path::Path;

use clap::Parser;
use wscxr::{TrainingSet, Wscxr, WscxrConfig, list_images, metrics};

#[derive(Parser)]
#[command(about = "Train and score WSCXR on the bundled X-rays")]
struct Args {
    /// burn backend: flex (CPU), ndarray (CPU, feature `ndarray`), wgpu (GPU, feature `wgpu`).
    #[arg(long, default_value = "flex")]
    backend: String,
    /// Training epochs.
    #[arg(long, default_value_t = 30)]
    epochs: usize,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let device = wscxr::device::device(&args.backend)?;
    // Relative to the working folder, not to where the binary was built: cargo may reuse a binary
    // built in another (since removed) checkout.
    let root = Path::new("assets/quickstart");
    if !root.is_dir() {
        return Err(
            "assets/quickstart not found: run the quickstart from the root of a wscxr checkout"
                .into(),
        );
    }
    let training = TrainingSet::new(
        list_images(root.join("train/normal"))?,
        list_images(root.join("train/anomaly"))?,
    );
    let test_normal = list_images(root.join("test/normal"))?;
    let test_abnormal = list_images(root.join("test/anomaly"))?;

    let mut config = WscxrConfig::default();
    config.train.epochs = args.epochs;
    println!(
        "training on {} normal + {} abnormal X-rays (Xception block13_out, {} px, {} epochs, backend {})",
        training.normals().len(),
        training.abnormals().len(),
        config.image_size,
        args.epochs,
        args.backend
    );
    let mut progress = wscxr::progress::ProgressBars::new(args.quiet);
    let detector = Wscxr::new(config.clone())?
        .observer(&mut progress)
        .fit(&training, &device)?;
    progress.finish();
    let report = detector.report();
    println!(
        "bank {} rows, {} prototypes; extract {:.1} s, bank {:.2} s, mine {:.2} s, train {:.2} s",
        report.bank_rows,
        report.prototypes,
        report.extract_seconds,
        report.bank_seconds,
        report.mine_seconds,
        report.train_seconds
    );

    let tests: Vec<_> = test_normal.iter().chain(&test_abnormal).cloned().collect();
    let labels: Vec<bool> = test_normal
        .iter()
        .map(|_| false)
        .chain(test_abnormal.iter().map(|_| true))
        .collect();
    let scored = detector.score(&tests)?;
    let out = Path::new("quickstart-out");
    common::write_heatmaps(&detector, &scored, out, |_, s| {
        format!("{}_heatmap.png", common::stem(&s.xray))
    })?;
    println!("\n{:<34} {:>8}  {:>7}", "image", "label", "score");
    for (s, &label) in scored.iter().zip(&labels) {
        let label = if label { "abnormal" } else { "normal" };
        println!(
            "{:<34} {:>8}  {:>7.3}",
            common::stem(&s.xray),
            label,
            s.score
        );
    }
    let scores: Vec<f32> = scored.iter().map(|s| s.score).collect();
    if let Some(auroc) = metrics::auroc(&scores, &labels) {
        println!(
            "\nAUROC on the {} held-back images: {auroc:.3}",
            scores.len()
        );
    }
    let saved = out.join("detector.wscxr");
    detector.save(&saved)?;
    println!(
        "heatmaps written to {}/, detector saved as {}",
        out.display(),
        saved.display()
    );
    println!(
        "score more images with: cargo run --release --example predict -- --detector {} IMAGE_OR_FOLDER...",
        saved.display()
    );
    Ok(())
}
