//! `wscxr evaluate`: the paper's tables on a dataset folder: K sweep, seeds, ablations, both
//! protocols. DIR holds `train/normal`, `train/anomaly` and the split folders (`EVAL/normal`,
//! `EVAL/anomaly`). The protocols live in the library (`wscxr::eval`); this parses flags, checks
//! every one before any work, and prints.

use std::path::PathBuf;

use wscxr::backbone::Network;
use wscxr::eval::{
    BoxedImages, Evaluation, Protocol, Report, RocSeries, RunRecord, SplitOptions, Splits,
    write_roc_png,
};
use wscxr::{Ablation, FeatureCache, WscxrConfig};

use crate::convert::parse_network;
use crate::with_flag;
use wscxr::progress::ProgressBars;

/// Flags of `wscxr evaluate`.
#[derive(clap::Args)]
pub struct Args {
    /// Dataset folder with train/normal, train/anomaly and split folders.
    #[arg(long)]
    data: PathBuf,
    /// Split to report on (not train).
    #[arg(long, default_value = "test")]
    eval_split: String,
    /// Split whose images choose the threshold under the honest protocol.
    #[arg(long, default_value = "val")]
    val_split: String,
    /// Fraction of train/ carved off (by patient) for the threshold when there is no usable val
    /// split, in (0, 1).
    #[arg(long, default_value_t = 0.2)]
    val_fraction: f64,
    /// Abnormal training images, comma-separated.
    #[arg(long, default_value = "16", value_delimiter = ',')]
    k: Vec<usize>,
    /// Seeds, comma-separated.
    #[arg(long, default_value = "0,1,2", value_delimiter = ',')]
    seeds: Vec<u64>,
    /// honest or oracle.
    #[arg(long, default_value = "honest")]
    protocol: Protocol,
    /// xception or densenet121.
    #[arg(long, default_value = "xception", value_parser = parse_network)]
    backbone: Network,
    /// ONNX file or burn record; default: the bundled Xception record.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Backbone taps, comma-separated.
    #[arg(long, default_value = "block13_out", value_delimiter = ',')]
    layers: Vec<String>,
    /// Input size in pixels.
    #[arg(long, default_value_t = 256)]
    size: usize,
    /// Training epochs (the honest protocol reports the last).
    #[arg(long, default_value_t = 30)]
    epochs: usize,
    /// Normal training images sampled per run.
    #[arg(long, default_value_t = 500)]
    max_normals: usize,
    /// full, no-mining, no-mixing or neither.
    #[arg(long, default_value = "full")]
    ablation: Ablation,
    /// Radiologists' boxes (CSV: image,finding,x,y,w,h in the image's pixels): their images are
    /// scored for localisation (pointing game, top-5% share, pixel AUROC) and as an image-level
    /// anomaly set against the eval normals; fits draw from none of their patients.
    #[arg(long)]
    boxes: Option<PathBuf>,
    /// The folder the boxes file's image names are relative to (default: the file's folder).
    #[arg(long, requires = "boxes")]
    boxed_images: Option<PathBuf>,
    /// Also report the unsupervised (K = 0, PatchCore) detector.
    #[arg(long)]
    unsupervised: bool,
    /// Write every run's numbers, timings and the configuration here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write ROC curves here: one PNG per K, a curve per seed (`roc_k4.png`, ...).
    #[arg(long)]
    roc: Option<PathBuf>,
    /// Feature cache folder.
    #[arg(long, default_value = "wscxr-cache")]
    cache: PathBuf,
    /// burn backend: flex, ndarray or wgpu.
    #[arg(long, default_value = "flex")]
    backend: String,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

/// Runs `wscxr evaluate`.
pub fn run(args: &Args) -> Result<(), String> {
    let mut config = WscxrConfig {
        backbone: args.backbone,
        weights: args.weights.clone(),
        layers: args.layers.clone(),
        image_size: args.size,
        max_normals: args.max_normals,
        ablation: args.ablation,
        ..WscxrConfig::default()
    };
    config.train.epochs = args.epochs;
    let options = SplitOptions {
        eval_split: args.eval_split.clone(),
        val_split: args.val_split.clone(),
        val_fraction: args.val_fraction,
        protocol: args.protocol,
    };
    // Every flag is checked before any image is read or any weight loaded.
    config.check().map_err(with_flag)?;
    options.check().map_err(with_flag)?;
    let device = wscxr::device::device(&args.backend).map_err(|e| format!("--backend: {e}"))?;
    if let Some(weights) = &args.weights
        && !weights.is_file()
    {
        return Err(format!("--weights: {}: no such file", weights.display()));
    }

    if let Some(dir) = &args.roc {
        // Checked before hours of fitting, not after.
        std::fs::create_dir_all(dir).map_err(|e| format!("--roc: {}: {e}", dir.display()))?;
    }
    let mut splits = Splits::from_folder(&args.data, &options).map_err(with_flag)?;
    if let Some(csv) = &args.boxes {
        let dir = match &args.boxed_images {
            Some(dir) => dir.clone(),
            None => csv.parent().map(PathBuf::from).unwrap_or_default(),
        };
        let boxed = BoxedImages::read(csv, &dir).map_err(|e| format!("--boxes: {e}"))?;
        splits = splits
            .with_boxes(boxed)
            .map_err(|e| format!("--boxes: {e}"))?;
    }
    for &k in &args.k {
        splits.check_k(k).map_err(with_flag)?;
    }
    let cache = FeatureCache::new(&args.cache).map_err(|e| format!("--cache: {e}"))?;
    eprintln!(
        "protocol: {}; evaluated: {}; threshold: {}",
        args.protocol, splits.eval_source, splits.threshold_source
    );

    let mut progress = ProgressBars::new(args.quiet);
    let evaluation = Evaluation::new(
        config.clone(),
        &splits,
        Some(&cache),
        &device,
        &mut progress,
    )
    .map_err(with_flag)?;
    progress.finish();
    let mut ks = args.k.clone();
    if args.unsupervised {
        ks.insert(0, 0);
    }
    let mut runs = Vec::new();
    for &k in &ks {
        for &seed in &args.seeds {
            progress.set_prefix(format!("K={k} seed={seed} "));
            let record = evaluation.run(k, seed, &mut progress).map_err(with_flag)?;
            progress.finish();
            eprintln!(
                "K={k:<2} seed={seed}: AUROC {:.4} ACC {:.4} F1 {:.4} (fit {:.1} s)",
                record.metrics.auroc,
                record.metrics.accuracy,
                record.metrics.f1,
                record.fit_seconds
            );
            if let Some(boxed) = &record.boxed {
                eprintln!(
                    "       boxed: pointing game {:.3} (chance {:.3}), top-5% in boxes {:.3}, \
                     image AUROC {:.4}",
                    boxed.localisation.pointing_game,
                    boxed.localisation.chance,
                    boxed.localisation.top_share,
                    boxed.image_auroc.unwrap_or(f64::NAN)
                );
            }
            runs.push(record);
        }
    }
    let report = Report::new(
        runs,
        &splits,
        &options,
        &args.data,
        &args.backend,
        config.clone(),
    );
    if let Some(dir) = &args.roc {
        write_roc_pictures(dir, &report.runs)?;
    }

    println!(
        "{} {} on {} ({}; {} protocol{}), ablation {}, {} seeds\nthreshold: {}\n",
        args.backbone,
        args.layers.join("+"),
        args.data.display(),
        splits.eval_source,
        args.protocol,
        if args.protocol == Protocol::Oracle {
            ": best epoch and threshold chosen on the eval split"
        } else {
            ""
        },
        args.ablation,
        args.seeds.len(),
        splits.threshold_source
    );
    println!("| K | AUROC | ACC | F1 |\n|---|---|---|---|");
    for s in &report.summary {
        let name = if s.k == 0 {
            "0 (PatchCore)".to_string()
        } else {
            s.k.to_string()
        };
        println!(
            "| {name} | {:.3} ± {:.3} | {:.3} ± {:.3} | {:.3} ± {:.3} |",
            s.auroc.mean, s.auroc.std, s.accuracy.mean, s.accuracy.std, s.f1.mean, s.f1.std
        );
    }
    let localisation = &report.localisation;
    if let Some(first) = localisation.first() {
        let boxed = splits.boxed.as_ref().map_or(0, |b| b.paths.len());
        println!(
            "\nlocalisation on {boxed} boxed images (image AUROC: boxed against the evaluated \
             normals); chance {:.3}\n",
            first.chance
        );
        let findings: Vec<&String> = first.per_finding.keys().collect();
        print!("| K | pointing game | top-5% in boxes | pixel AUROC | image AUROC |");
        for f in &findings {
            print!(" {f} |");
        }
        print!("\n|---|---|---|---|---|");
        println!("{}", "---|".repeat(findings.len()));
        for l in localisation {
            let cell = |m: &wscxr::eval::MeanStd| format!("{:.3} ± {:.3}", m.mean, m.std);
            print!(
                "| {} | {} | {} | {} | {} |",
                l.k,
                cell(&l.pointing_game),
                cell(&l.top_share),
                cell(&l.pixel_auroc),
                cell(&l.image_auroc)
            );
            for f in &findings {
                print!(
                    " {:.2} |",
                    l.per_finding.get(*f).map_or(f64::NAN, |m| m.mean)
                );
            }
            println!();
        }
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("--json: {}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// One ROC picture per K in `dir`, with a curve per seed.
fn write_roc_pictures(dir: &std::path::Path, runs: &[RunRecord]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("--roc: {}: {e}", dir.display()))?;
    let mut ks: Vec<usize> = runs.iter().map(|r| r.k).collect();
    ks.dedup();
    for k in ks {
        let curves: Vec<RocSeries> = runs
            .iter()
            .filter(|r| r.k == k)
            .map(|r| RocSeries {
                label: format!("seed {} (AUROC {:.3})", r.seed, r.metrics.auroc),
                points: r.roc.clone(),
            })
            .collect();
        let title = if k == 0 {
            "K = 0 (PatchCore)".to_string()
        } else {
            format!("K = {k}")
        };
        let path = dir.join(format!("roc_k{k}.png"));
        write_roc_png(&path, &title, &curves).map_err(|e| format!("--roc: {e}"))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
