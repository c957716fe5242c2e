//! Forward-pass throughput of a backbone on random 256 x 256 input (the pass alone: no decoding).
//!
//! ```text
//! cargo run --release --all-features --example throughput -- --network xception|densenet121 \
//!     [--tap TAP] [--batch N] [--seconds S] [--weights FILE] [--backend flex|ndarray|wgpu] \
//!     [--path auto|host|burn] [--profile] [--images FOLDER]
//! ```
//!
//! The last line is `images/s: X`. `--path burn` forces burn's operators where the host path
//! would run; `--profile` adds where the host path's time goes, by kind of layer; `--images`
//! also measures `Backbone::extract` end to end on that folder's images (decoding and resizing
//! overlapped with the forward pass), whose rate is then the last line.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use wscxr::backbone::{Backbone, ExtractOptions, Network};
use wscxr::burn::prelude::*;
use wscxr::burn::tensor::Distribution;

#[derive(Parser)]
#[command(about = "Backbone forward-pass throughput, images/s")]
struct Args {
    /// xception or densenet121.
    #[arg(long)]
    network: String,
    /// Feature tap to stop at (default: the deepest).
    #[arg(long)]
    tap: Option<String>,
    /// Images per forward pass.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Seconds to keep measuring (after one warm-up pass).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Weights: an ONNX file or a burn record (.bpk). Default: DenseNet-121's synthetic fixture
    /// in ../shared, Xception's bundled half-precision record.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// burn backend: flex, ndarray or wgpu.
    #[arg(long, default_value = "flex")]
    backend: String,
    /// auto (host path on CPU devices), host, or burn (burn's operators only).
    #[arg(long, default_value = "auto")]
    path: String,
    /// Also print the host path's time per kind of layer.
    #[arg(long)]
    profile: bool,
    /// Also time `Backbone::extract` on the images in this folder (end to end).
    #[arg(long)]
    images: Option<PathBuf>,
    /// At most this many images from `--images`.
    #[arg(long, default_value_t = 256)]
    limit: usize,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let network = Network::from_name(&args.network).ok_or_else(|| {
        format!(
            "unknown network '{}': xception or densenet121",
            args.network
        )
    })?;
    let tap = args.tap.clone().unwrap_or_else(|| {
        network
            .taps()
            .last()
            .copied()
            .unwrap_or_default()
            .to_string()
    });
    if args.batch == 0 {
        return Err("--batch must be positive".into());
    }
    let device = wscxr::device::device(&args.backend)?;
    let weights = args
        .weights
        .clone()
        .unwrap_or_else(|| default_weights(network));
    let backbone = load(network, &weights, &device)?;
    let backbone = match args.path.as_str() {
        "auto" => backbone,
        "host" => backbone.with_host_path(true)?,
        "burn" => backbone.with_host_path(false)?,
        other => return Err(format!("--path {other}: auto, host or burn").into()),
    };
    let path = if backbone.uses_host_path() {
        "host"
    } else {
        "burn"
    };
    println!(
        "{network} to {tap}, batch {}, 256x256, backend {}, {path} path, {} rayon threads, weights {}",
        args.batch,
        args.backend,
        rayon_threads(),
        weights.display()
    );
    let taps = [tap.as_str()];
    let input = Tensor::<4>::random([args.batch, 3, 256, 256], Distribution::Default, &device);
    let run = || -> Result<(), Box<dyn std::error::Error>> {
        let maps = backbone.forward(input.clone(), &taps)?;
        // Reading the map back waits for asynchronous devices to finish.
        for map in maps {
            let _ = map.into_data();
        }
        Ok(())
    };
    run()?;
    let (passes, elapsed) = repeat(args.seconds, &run)?;
    let per_pass = elapsed.as_secs_f64() / passes as f64;
    println!(
        "{passes} passes in {:.2} s: {:.1} ms per batch",
        elapsed.as_secs_f64(),
        per_pass * 1e3
    );
    let forward_rate = args.batch as f64 / per_pass;
    if args.profile {
        profile(&backbone, &input, &taps)?;
    }
    println!("forward-only images/s: {forward_rate:.2}");
    if let Some(folder) = &args.images {
        let mut paths = wscxr::Xray::files(&wscxr::list_images(folder)?);
        paths.truncate(args.limit);
        let mut options = ExtractOptions::new([tap.as_str()]);
        options.batch_size = args.batch;
        // Warm-up on one batch, then the whole folder.
        backbone.extract(&paths[..args.batch.min(paths.len())], &options, |_, _| {})?;
        let start = Instant::now();
        let maps = backbone.extract(&paths, &options, |_, _| {})?;
        let seconds = start.elapsed().as_secs_f64();
        let _ = maps.into_iter().map(Tensor::into_data).count();
        let rate = paths.len() as f64 / seconds;
        println!(
            "end-to-end (decode + resize + forward) on {} images of {}: {:.2} images/s, {:.0}% of forward-only",
            paths.len(),
            folder.display(),
            rate,
            100.0 * rate / forward_rate
        );
        println!("images/s: {rate:.2}");
    } else {
        println!("images/s: {forward_rate:.2}");
    }
    Ok(())
}

/// Runs `run` until `seconds` have passed (and at least twice).
fn repeat(
    seconds: f64,
    run: &dyn Fn() -> Result<(), Box<dyn std::error::Error>>,
) -> Result<(usize, Duration), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let mut passes = 0;
    while passes < 2 || start.elapsed().as_secs_f64() < seconds {
        run()?;
        passes += 1;
    }
    Ok((passes, start.elapsed()))
}

/// Prints the host path's time per kind of layer, averaged over a few passes.
fn profile(
    backbone: &Backbone,
    input: &Tensor<4>,
    taps: &[&str],
) -> Result<(), Box<dyn std::error::Error>> {
    const PASSES: u32 = 3;
    let mut total: Vec<(&'static str, Duration)> = Vec::new();
    for _ in 0..PASSES {
        let Some(laps) = backbone.host_profile(input.clone(), taps)? else {
            println!("(no profile: the host path is off)");
            return Ok(());
        };
        for (label, spent) in laps {
            match total.iter_mut().find(|(l, _)| *l == label) {
                Some((_, t)) => *t += spent,
                None => total.push((label, spent)),
            }
        }
    }
    let sum: Duration = total.iter().map(|(_, t)| *t).sum();
    println!("| layers | ms per batch | share |");
    println!("|---|---|---|");
    for (label, spent) in &total {
        println!(
            "| {label} | {:.1} | {:.0}% |",
            spent.as_secs_f64() * 1e3 / f64::from(PASSES),
            100.0 * spent.as_secs_f64() / sum.as_secs_f64()
        );
    }
    println!(
        "| total | {:.1} | |",
        sum.as_secs_f64() * 1e3 / f64::from(PASSES)
    );
    Ok(())
}

fn default_weights(network: Network) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    match network {
        Network::DenseNet121 => root.join("../shared/fixtures/densenet121_synthetic.onnx"),
        Network::Xception => root.join(wscxr::BUNDLED_XCEPTION),
    }
}

fn load(
    network: Network,
    weights: &Path,
    device: &Device,
) -> Result<Backbone, Box<dyn std::error::Error>> {
    if !weights.is_file() {
        return Err(format!(
            "{}: no such weights file (DenseNet-121's default lives in the project's shared data, \
             ../shared; pass --weights FILE)",
            weights.display()
        )
        .into());
    }
    let onnx = weights
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"));
    Ok(if onnx {
        Backbone::from_onnx(network, weights, device)?
    } else {
        Backbone::from_record(network, weights, device)?
    })
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}
