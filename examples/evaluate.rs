//! Reproduces the paper's tables on a dataset folder: K sweep, seeds, ablations, both protocols.
//!
//! ```text
//! cargo run --release --example evaluate -- --data ../shared/data/zhanglab-dev --eval-split val \
//!     --k 2,4,8,16 --seeds 0,1,2 [--protocol honest|oracle] [--ablation full|no-mining|no-mixing|neither]
//!     [--unsupervised] [--json results.json]
//! ```
//! DIR holds `train/normal`, `train/anomaly` and the split folders (`EVAL/normal`, `EVAL/anomaly`).
//!
//! `honest` (default): fixed epochs; the ACC/F1 threshold is Youden's J on `--val-split` when DIR has
//! it (and it is not the eval split), otherwise on a validation part carved from `train/` that no
//! fit ever sees. `oracle`: the official code's practice, best epoch and threshold chosen on the
//! eval split itself (optimistic), labelled as such everywhere.

mod common;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use clap::Parser;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::index::sample;
use serde_json::json;
use wscxr::backbone::{Backbone, ExtractOptions, Network};
use wscxr::bank::patch_features;
use wscxr::detector::{Discriminator, image_scores, patch_scores};
use wscxr::metrics::{Metrics, evaluate, youden_threshold};
use wscxr::{
    Ablation, Detector, FeatureCache, Wscxr, WscxrConfig, draw_abnormal, extract_features,
    list_images, load_backbone,
};

#[derive(Parser)]
#[command(about = "Evaluate WSCXR on a dataset folder")]
struct Args {
    /// Dataset folder with train/normal, train/anomaly and split folders.
    #[arg(long)]
    data: PathBuf,
    /// Split to report on.
    #[arg(long, default_value = "test")]
    eval_split: String,
    /// Split whose images choose the threshold under the honest protocol.
    #[arg(long, default_value = "val")]
    val_split: String,
    /// Fraction of train/ carved off for validation when there is no usable val split.
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
    protocol: String,
    /// xception or densenet121.
    #[arg(long, default_value = "xception")]
    backbone: String,
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
    ablation: String,
    /// Also report the unsupervised (K = 0, PatchCore) detector.
    #[arg(long)]
    unsupervised: bool,
    /// Write every run's numbers, timings and the configuration here.
    #[arg(long)]
    json: Option<PathBuf>,
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

#[derive(Clone, Copy, PartialEq)]
enum Protocol {
    Honest,
    Oracle,
}

/// A labelled image set whose patch features are computed once.
struct Split {
    paths: Vec<PathBuf>,
    labels: Vec<bool>,
}

impl Split {
    fn from_folder(dir: &Path) -> Result<Self, wscxr::WscxrError> {
        let normal = list_images(dir.join("normal"))?;
        let anomaly = list_images(dir.join("anomaly"))?;
        Ok(Self::from_lists(normal, anomaly))
    }

    fn from_lists(normal: Vec<PathBuf>, anomaly: Vec<PathBuf>) -> Self {
        let labels = normal
            .iter()
            .map(|_| false)
            .chain(anomaly.iter().map(|_| true))
            .collect();
        Self {
            paths: normal.into_iter().chain(anomaly).collect(),
            labels,
        }
    }
}

/// Patch rows of a split, for one fitted configuration.
struct SplitFeatures {
    rows: Tensor<2>,
    per_image: usize,
}

fn split_features(
    backbone: &Backbone,
    identity: &str,
    config: &WscxrConfig,
    cache: &FeatureCache,
    split: &Split,
) -> Result<SplitFeatures, Box<dyn std::error::Error>> {
    let options = ExtractOptions {
        size: config.image_size,
        taps: config.layers.clone(),
        batch_size: config.batch_size,
    };
    let maps = extract_features(
        backbone,
        identity,
        &split.paths,
        &options,
        Some(cache),
        |_, _| {},
    )?;
    let (rows, grid) = patch_features(&maps, &config.patch)?;
    Ok(SplitFeatures {
        rows,
        per_image: grid[0] * grid[1],
    })
}

fn scores_of(detector: &Detector, features: &SplitFeatures) -> Result<Vec<f32>, wscxr::WscxrError> {
    let patches = detector.patch_scores(features.rows.clone(), features.per_image)?;
    Ok(image_scores(&patches, features.per_image))
}

fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let protocol = match args.protocol.as_str() {
        "honest" => Protocol::Honest,
        "oracle" => Protocol::Oracle,
        other => return Err(format!("unknown protocol '{other}': use honest or oracle").into()),
    };
    let ablation = Ablation::from_name(&args.ablation).ok_or_else(|| {
        format!(
            "unknown ablation '{}': full, no-mining, no-mixing or neither",
            args.ablation
        )
    })?;
    let network = Network::from_name(&args.backbone).ok_or_else(|| {
        format!(
            "unknown backbone '{}': xception or densenet121",
            args.backbone
        )
    })?;
    let device = wscxr::device::device(&args.backend)?;
    let cache = FeatureCache::new(&args.cache)?;

    let mut pool_normal = list_images(args.data.join("train/normal"))?;
    let mut pool_anomaly = list_images(args.data.join("train/anomaly"))?;
    let eval = Split::from_folder(&args.data.join(&args.eval_split))?;
    let val_dir = args.data.join(&args.val_split);
    let (val, threshold_source) = if protocol == Protocol::Oracle {
        (
            None,
            format!(
                "oracle: best epoch and threshold chosen on {} itself (optimistic)",
                args.eval_split
            ),
        )
    } else if args.val_split != args.eval_split && val_dir.is_dir() {
        (
            Some(Split::from_folder(&val_dir)?),
            format!("Youden's J on the '{}' split", args.val_split),
        )
    } else {
        // Carve a validation part off train/ with a fixed seed; fits only ever see the rest.
        let mut rng = StdRng::seed_from_u64(0x0076_616c);
        let mut carve = |pool: &mut Vec<PathBuf>| -> Vec<PathBuf> {
            let take = ((pool.len() as f64) * args.val_fraction).round() as usize;
            let mut picked = sample(&mut rng, pool.len(), take).into_vec();
            picked.sort_unstable_by(|a, b| b.cmp(a));
            let mut carved: Vec<PathBuf> = picked.into_iter().map(|i| pool.remove(i)).collect();
            carved.sort();
            carved
        };
        let normal = carve(&mut pool_normal);
        let anomaly = carve(&mut pool_anomaly);
        let source = format!(
            "Youden's J on {} normal + {} abnormal images carved from train/ ({:.0}%), disjoint from every fit",
            normal.len(),
            anomaly.len(),
            args.val_fraction * 100.0
        );
        (Some(Split::from_lists(normal, anomaly)), source)
    };
    for &k in &args.k {
        // Fail before any work when a K cannot be drawn from the (possibly carved) pool.
        draw_abnormal(&pool_anomaly, k, 0)?;
    }

    let mut config = WscxrConfig {
        backbone: network,
        weights: args.weights.clone(),
        layers: args.layers.clone(),
        image_size: args.size,
        max_normals: args.max_normals,
        ablation,
        ..WscxrConfig::default()
    };
    config.train.epochs = args.epochs;
    let protocol_name = if protocol == Protocol::Oracle {
        "oracle"
    } else {
        "honest"
    };
    eprintln!("protocol: {protocol_name}; threshold: {threshold_source}");

    let mut ks: Vec<usize> = args.k.clone();
    if args.unsupervised {
        ks.insert(0, 0);
    }
    let mut progress = common::Progress::new(args.quiet);
    let mut runs = Vec::new();
    let mut table = Vec::new();
    // Eval (and val) patch features do not depend on the fit: compute them once.
    let (eval_features, val_features) = {
        let (backbone, weights_sha256) = load_backbone(&config, &device)?;
        let identity = format!("{}:{weights_sha256}", config.backbone);
        let eval_features = split_features(&backbone, &identity, &config, &cache, &eval)?;
        let val_features = match &val {
            Some(v) => Some(split_features(&backbone, &identity, &config, &cache, v)?),
            None => None,
        };
        (eval_features, val_features)
    };
    for &k in &ks {
        let mut per_seed: Vec<Metrics> = Vec::new();
        for &seed in &args.seeds {
            let abnormals = draw_abnormal(&pool_anomaly, k, seed)?;
            let run_config = WscxrConfig {
                seed,
                ..config.clone()
            };
            let oracle_eval = (protocol == Protocol::Oracle && k > 0).then_some(&eval_features);
            let mut history: Vec<(usize, Metrics)> = Vec::new();
            let mut epoch_scores = |epoch: usize, d: &Discriminator| {
                if let Some(features) = oracle_eval {
                    let patches = patch_scores(d, features.rows.clone()).expect("patch scores");
                    let scores = image_scores(&patches, features.per_image);
                    if let Some(t) = youden_threshold(&scores, &eval.labels)
                        && let Some(m) = evaluate(&scores, &eval.labels, t)
                    {
                        history.push((epoch, m));
                    }
                }
            };
            let clock = Instant::now();
            let detector = Wscxr::fit_with(
                &pool_normal,
                &abnormals,
                &run_config,
                &device,
                Some(&cache),
                &mut |report, d| {
                    epoch_scores(report.epoch, d);
                    ControlFlow::Continue(())
                },
                &mut |stage, done, total| {
                    progress.update(&format!("K={k} seed={seed} {stage}"), done, total)
                },
            )?;
            let fit_seconds = clock.elapsed().as_secs_f64();
            progress.finish();
            let clock = Instant::now();
            let eval_scores = scores_of(&detector, &eval_features)?;
            let score_seconds = clock.elapsed().as_secs_f64();
            let (metrics, best_epoch, final_metrics) = match (protocol, &val_features) {
                (Protocol::Honest, Some(vf)) => {
                    let val_labels = &val.as_ref().expect("honest has a val split").labels;
                    let threshold = youden_threshold(&scores_of(&detector, vf)?, val_labels)
                        .ok_or("the validation split needs both normal and abnormal images")?;
                    let metrics = evaluate(&eval_scores, &eval.labels, threshold)
                        .ok_or("eval split needs both classes")?;
                    (metrics, None, None)
                }
                _ => {
                    let final_threshold = youden_threshold(&eval_scores, &eval.labels)
                        .ok_or("eval split needs both classes")?;
                    let final_metrics = evaluate(&eval_scores, &eval.labels, final_threshold)
                        .expect("both classes");
                    // K = 0 has no epochs: its "best" is the final (only) state.
                    let best = history
                        .iter()
                        .copied()
                        .max_by(|a, b| {
                            let score = |m: &Metrics| m.auroc + m.accuracy + m.f1;
                            score(&a.1).total_cmp(&score(&b.1))
                        })
                        .unwrap_or((config.train.epochs, final_metrics));
                    (best.1, Some(best.0), Some(final_metrics))
                }
            };
            let report = detector.report();
            eprintln!(
                "K={k:<2} seed={seed}: AUROC {:.4} ACC {:.4} F1 {:.4} (fit {fit_seconds:.1} s)",
                metrics.auroc, metrics.accuracy, metrics.f1
            );
            runs.push(json!({
                "k": k,
                "seed": seed,
                "detector": if k == 0 { "patchcore" } else { "wscxr" },
                "auroc": metrics.auroc,
                "accuracy": metrics.accuracy,
                "f1": metrics.f1,
                "threshold": metrics.threshold,
                "best_epoch": best_epoch,
                "final_epoch_oracle_threshold": final_metrics,
                "abnormal_images": abnormals.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
                "bank_rows": report.bank_rows,
                "prototypes": report.prototypes,
                "seconds": {
                    "extract": report.extract_seconds,
                    "bank": report.bank_seconds,
                    "mine": report.mine_seconds,
                    "train": report.train_seconds,
                    "fit_total": fit_seconds,
                    "score_eval": score_seconds,
                },
            }));
            per_seed.push(metrics);
        }
        let column = |f: fn(&Metrics) -> f64| mean_std(&per_seed.iter().map(f).collect::<Vec<_>>());
        table.push((
            k,
            column(|m| m.auroc),
            column(|m| m.accuracy),
            column(|m| m.f1),
        ));
    }

    let title = format!(
        "{} {} on {}/{} ({} protocol{}), ablation {}, {} seeds",
        network,
        args.layers.join("+"),
        args.data.display(),
        args.eval_split,
        protocol_name,
        if protocol == Protocol::Oracle {
            ": best epoch and threshold chosen on the eval split"
        } else {
            ""
        },
        args.ablation,
        args.seeds.len()
    );
    println!("{title}\nthreshold: {threshold_source}\n");
    println!("| K | AUROC | ACC | F1 |\n|---|---|---|---|");
    for (k, auroc, acc, f1) in &table {
        let name = if *k == 0 {
            "0 (PatchCore)".to_string()
        } else {
            k.to_string()
        };
        println!(
            "| {name} | {:.3} ± {:.3} | {:.3} ± {:.3} | {:.3} ± {:.3} |",
            auroc.0, auroc.1, acc.0, acc.1, f1.0, f1.1
        );
    }
    if let Some(path) = &args.json {
        let summary: Vec<_> = table
            .iter()
            .map(|(k, a, c, f)| {
                json!({"k": k, "auroc_mean": a.0, "auroc_std": a.1, "accuracy_mean": c.0,
                       "accuracy_std": c.1, "f1_mean": f.0, "f1_std": f.1})
            })
            .collect();
        let document = json!({
            "protocol": protocol_name,
            "threshold_source": threshold_source,
            "data": args.data.display().to_string(),
            "eval_split": args.eval_split,
            "backend": args.backend,
            "config": config,
            "summary": summary,
            "runs": runs,
        });
        std::fs::write(path, serde_json::to_string_pretty(&document)?)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
