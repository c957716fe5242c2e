//! `wscxr convert`: ONNX backbone weights to a burn record, which loads without an ONNX parser.

use std::path::PathBuf;

use wscxr::backbone::{Backbone, Network, Precision};
use wscxr::burn::prelude::Device;

/// Flags of `wscxr convert`.
#[derive(clap::Args)]
pub struct Args {
    /// densenet121 or xception.
    #[arg(long, value_parser = parse_network)]
    network: Network,
    /// The ONNX file (torchvision names for DenseNet-121, Keras layer names for Xception).
    #[arg(long)]
    onnx: PathBuf,
    /// The record to write (burnpack, `.bpk`).
    #[arg(long)]
    out: PathBuf,
    /// Store convolution and linear weights as float16 (half the size; batch norm stays float32).
    #[arg(long)]
    half: bool,
}

/// Parses a network name for clap.
pub fn parse_network(name: &str) -> Result<Network, String> {
    Network::from_name(name).ok_or_else(|| format!("'{name}': use xception or densenet121"))
}

/// Runs `wscxr convert`.
pub fn run(args: &Args) -> Result<(), String> {
    if !args.onnx.is_file() {
        return Err(format!("--onnx: {}: no such file", args.onnx.display()));
    }
    let backbone = Backbone::from_onnx(args.network, &args.onnx, &Device::flex())
        .map_err(|e| format!("--onnx: {e}"))?;
    let precision = if args.half {
        Precision::Half
    } else {
        Precision::Full
    };
    backbone
        .save_record(&args.out, precision)
        .map_err(|e| format!("--out: {e}"))?;
    let bytes = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    println!(
        "{} -> {} ({:.1} MB, {precision:?} precision)",
        args.onnx.display(),
        args.out.display(),
        bytes as f64 / 1e6
    );
    Ok(())
}
