//! `wscxr fit`: fit a detector on folders of normal and abnormal X-rays and save it.

use std::path::PathBuf;
use std::time::Instant;

use wscxr::progress::ProgressBars;
use wscxr::{
    FeatureCache, LabelledImages, Observer, Part, ThresholdRule, Timings, TrainingSet, Validation,
    Wscxr, WscxrConfig, list_images,
};

use crate::{config_file, with_flag};

/// Flags of `wscxr fit`.
#[derive(clap::Args)]
pub struct Args {
    /// Folder of normal X-rays.
    #[arg(long)]
    normal: PathBuf,
    /// Folder of the K known-abnormal X-rays; without it the detector is unsupervised (K = 0).
    #[arg(long)]
    abnormal: Option<PathBuf>,
    /// Where the detector is saved.
    #[arg(long)]
    out: PathBuf,
    /// TOML or JSON file with any `WscxrConfig` fields (the rest keep the official defaults).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Overrides the configuration's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Overrides the configuration's training epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Calibrate on this folder's `normal/` and `anomaly/` images (threshold: Youden's J, unless
    /// `--rule` says otherwise). Without it, `--calibration-fraction` of the normal images are
    /// carved off (by patient) and the threshold keeps `--specificity` of them below it.
    #[arg(long)]
    calibrate_on: Option<PathBuf>,
    /// Fraction of the normal images carved off for calibration when there is no
    /// `--calibrate-on`, in (0, 1).
    #[arg(long, default_value_t = 0.2)]
    calibration_fraction: f64,
    /// Threshold rule: youden, max-f1 or specificity (normal images alone suffice for the last).
    #[arg(long)]
    rule: Option<String>,
    /// Specificity kept by the specificity rule, in (0, 1].
    #[arg(long, default_value_t = 0.95)]
    specificity: f64,
    /// Store the backbone weights in the detector file (32 MB for the bundled Xception),
    /// so that it loads on a machine that has never seen them.
    #[arg(long)]
    embed_weights: bool,
    /// Feature cache folder (extracts each image once across fits).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// burn backend: flex, ndarray or wgpu.
    #[arg(long, default_value = "flex")]
    backend: String,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
    /// Print where the time went (decode, forward, coreset, mining, training, ...) on standard
    /// error at the end.
    #[arg(long)]
    timings: bool,
}

/// Runs `wscxr fit`.
pub fn run(args: &Args) -> Result<(), String> {
    let mut config = match &args.config {
        Some(path) => config_file::read(path)?,
        None => WscxrConfig::default(),
    };
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    if let Some(epochs) = args.epochs {
        config.train.epochs = epochs;
    }
    if !(args.specificity > 0.0 && args.specificity <= 1.0) {
        return Err(format!(
            "--specificity: {} is not in (0, 1]",
            args.specificity
        ));
    }
    let specificity = ThresholdRule::Specificity(args.specificity);
    let rule = match args.rule.as_deref() {
        None if args.calibrate_on.is_some() => ThresholdRule::Youden,
        None => specificity,
        Some(name) => ThresholdRule::from_name(name, args.specificity)
            .ok_or_else(|| format!("--rule: '{name}': use youden, max-f1 or specificity"))?,
    };
    let validation = match &args.calibrate_on {
        Some(dir) => Validation::Images(
            LabelledImages::from_folder(dir).map_err(|e| format!("--calibrate-on: {e}"))?,
        ),
        None if args.calibration_fraction > 0.0 && args.calibration_fraction < 1.0 => {
            Validation::CarveNormals(args.calibration_fraction)
        }
        None => {
            return Err(format!(
                "--calibration-fraction: {} is not in (0, 1)",
                args.calibration_fraction
            ));
        }
    };
    let method = Wscxr::new(config)
        .map_err(with_flag)?
        .calibrate(validation, rule);
    let device = wscxr::device::device(&args.backend).map_err(|e| format!("--backend: {e}"))?;
    let normals = list_images(&args.normal).map_err(|e| format!("--normal: {e}"))?;
    let abnormals = match &args.abnormal {
        Some(dir) => list_images(dir).map_err(|e| format!("--abnormal: {e}"))?,
        None => Vec::new(),
    };
    let cache = match &args.cache {
        Some(dir) => Some(FeatureCache::new(dir).map_err(|e| format!("--cache: {e}"))?),
        None => None,
    };
    tracing::info!(
        normal = normals.len(),
        abnormal = abnormals.len(),
        "fitting"
    );
    let mut bars = ProgressBars::new(args.quiet);
    let mut timings = Timings::new(&mut bars);
    let mut method = method.observer(&mut timings);
    if let Some(cache) = &cache {
        method = method.cache(cache);
    }
    let detector = method
        .fit(&TrainingSet::new(normals, abnormals), &device)
        .map_err(with_flag)?;
    let clock = Instant::now();
    if args.embed_weights {
        detector.save_with_weights(&args.out)
    } else {
        detector.save(&args.out)
    }
    .map_err(|e| format!("--out: {e}"))?;
    timings.timed(Part::Writing, clock.elapsed().as_secs_f64());
    let table = args.timings.then(|| timings.table());
    bars.finish();
    if let Some(table) = table {
        eprint!("{table}");
    }
    let report = detector.report();
    println!(
        "fitted on {} normal + {} abnormal images (bank {} rows, {} prototypes); saved {}",
        report.normal_images,
        report.abnormal_images,
        report.bank_rows,
        report.prototypes,
        args.out.display()
    );
    if let Some(c) = detector.calibration() {
        println!(
            "calibrated on {} normal + {} abnormal images: threshold {:.4} ({:?})",
            c.normal_images, c.abnormal_images, c.threshold, c.rule
        );
    }
    Ok(())
}
