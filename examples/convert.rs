//! Imports backbone weights from an ONNX file and writes them as a burn record.
//!
//! ```text
//! cargo run --release --example convert -- --network xception \
//!     --onnx ../shared/weights/xception_imagenet_b13.onnx --out assets/xception_b13_f16.bpk --half
//! ```
//! The record loads with `Backbone::from_record` and needs neither the ONNX file nor its parser.

use std::path::PathBuf;

use burn::prelude::*;
use clap::Parser;
use wscxr::backbone::{Backbone, Network, Precision};

#[derive(Parser)]
#[command(about = "Convert ONNX backbone weights into a burn record")]
struct Args {
    /// densenet121 or xception.
    #[arg(long)]
    network: String,
    /// The ONNX file (torchvision names for DenseNet-121, Keras layer names for Xception).
    #[arg(long)]
    onnx: PathBuf,
    /// The record to write (burnpack, `.bpk`).
    #[arg(long)]
    out: PathBuf,
    /// Store convolution and linear weights as float16 (half the size; batch-norm stays float32).
    #[arg(long)]
    half: bool,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let network = Network::from_name(&args.network).ok_or_else(|| {
        format!(
            "unknown network '{}': use densenet121 or xception",
            args.network
        )
    })?;
    let device = Device::flex();
    let backbone = Backbone::from_onnx(network, &args.onnx, &device)?;
    let precision = if args.half {
        Precision::Half
    } else {
        Precision::Full
    };
    backbone.save_record(&args.out, precision)?;
    let bytes = std::fs::metadata(&args.out)?.len();
    println!(
        "{} -> {} ({:.1} MB, {:?} precision)",
        args.onnx.display(),
        args.out.display(),
        bytes as f64 / 1e6,
        precision
    );
    Ok(())
}
