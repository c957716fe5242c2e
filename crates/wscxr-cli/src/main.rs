//! `wscxr`: fit, score, evaluate and convert chest X-ray anomaly detectors (WSCXR, Ni et al.).
//!
//! ```text
//! wscxr fit --normal DIR [--abnormal DIR] --out detector.wscxr [--config FILE]
//! wscxr score --detector detector.wscxr [--csv scores.csv] [--shard I/N] IMAGE_OR_FOLDER...
//! wscxr evaluate --data DIR --eval-split val --k 2,4,8,16 --seeds 0,1,2
//! wscxr convert --network xception --onnx FILE --out FILE.bpk [--half]
//! wscxr serve --detector detector.wscxr [--listen 127.0.0.1:8080] [--token-file FILE]
//! ```
//! Logs go to standard error at the level `RUST_LOG` names (default `warn`; `RUST_LOG=info` shows
//! each stage). Every flag is checked before any work; a bad one ends the program with a one-line error
//! naming it.

mod config_file;
mod convert;
mod evaluate;
mod fit;
mod score;
#[cfg(feature = "serve")]
mod serve;
mod shard;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "wscxr",
    version,
    about = "Weakly supervised anomaly detection in chest X-rays"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fit a detector on normal and (optionally) a few abnormal X-rays and save it.
    Fit(fit::Args),
    /// Score X-rays with a saved detector; one CSV row per image.
    Score(score::Args),
    /// The paper's tables on a dataset folder: K sweep, seeds, ablations, both protocols.
    Evaluate(evaluate::Args),
    /// Convert ONNX backbone weights into a burn record.
    Convert(convert::Args),
    /// Serve a detector over HTTP: an API that scores one X-ray per request, and a page.
    #[cfg(feature = "serve")]
    Serve(serve::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Usage errors in one line (clap adds a hint line); help and version print in full.
        Err(e) if e.use_stderr() => {
            let text = e.to_string();
            eprintln!("{}", text.lines().next().unwrap_or("error: bad arguments"));
            return ExitCode::from(2);
        }
        Err(e) => e.exit(),
    };
    // RUST_LOG names the most verbose level shown (error, warn, info, debug, trace); per-module
    // filters would need `tracing-subscriber`'s regex engine, whose extra features rebuild burn.
    // A service logs each request by default (ids, routes, statuses, times: no patient data).
    #[cfg(feature = "serve")]
    let default_level = match cli.command {
        Command::Serve(_) => tracing::level_filters::LevelFilter::INFO,
        _ => tracing::level_filters::LevelFilter::WARN,
    };
    #[cfg(not(feature = "serve"))]
    let default_level = tracing::level_filters::LevelFilter::WARN;
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<tracing::level_filters::LevelFilter>().ok())
        .unwrap_or(default_level);
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let result = match &cli.command {
        Command::Fit(args) => fit::run(args),
        Command::Score(args) => score::run(args),
        Command::Evaluate(args) => evaluate::run(args),
        Command::Convert(args) => convert::run(args),
        #[cfg(feature = "serve")]
        Command::Serve(args) => serve::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The flag that sets a configuration value, so that a rejected value names what to change.
pub(crate) fn flag_of(parameter: &str) -> &'static str {
    match parameter {
        "layers" => "--layers",
        "image_size" => "--size",
        "max_normals" => "--max-normals",
        "epochs" => "--epochs",
        "weights" => "--weights",
        "val fraction" => "--val-fraction",
        "eval split" => "--eval-split",
        "val split" => "--val-split",
        "K" => "--k",
        _ => "--config",
    }
}

/// A library error as one line, led by the flag responsible when a value was rejected.
pub(crate) fn with_flag(e: wscxr::WscxrError) -> String {
    match e.invalid_parameter() {
        Some(parameter) => format!("{}: {e}", flag_of(parameter)),
        None => e.to_string(),
    }
}
