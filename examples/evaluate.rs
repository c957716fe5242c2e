//! The evaluation protocols of `wscxr::eval` in a few lines: a K sweep under the honest protocol.
//!
//! ```text
//! cargo run --release --example evaluate -- DATA_DIR EVAL_SPLIT
//! ```
//! DATA_DIR holds `train/normal`, `train/anomaly` and `EVAL_SPLIT/{normal,anomaly}`. The `wscxr`
//! program's `evaluate` command has every option (protocols, ablations, seeds, JSON output).

use std::path::PathBuf;

use wscxr::burn::prelude::Device;
use wscxr::eval::{Evaluation, SplitOptions, Splits, summarize};
use wscxr::{FeatureCache, WscxrConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const USAGE: &str = "usage: evaluate DATA_DIR EVAL_SPLIT (two folder names, no flags: \
                         `wscxr evaluate` has the options)";
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(flag) = args.iter().find(|a| a.starts_with('-')) {
        return Err(format!("{flag}: this example takes no flags; {USAGE}").into());
    }
    let [data, eval_split] = <[String; 2]>::try_from(args).map_err(|_| USAGE)?;
    let options = SplitOptions {
        eval_split,
        ..SplitOptions::default()
    };
    // Fits may only draw from what `splits` leaves them; the threshold comes from images no fit sees.
    let splits = Splits::from_folder(&PathBuf::from(data), &options)?;
    println!("threshold: {}", splits.threshold_source);
    let cache = FeatureCache::new("wscxr-cache")?;
    let device = Device::flex();
    let evaluation = Evaluation::new(
        WscxrConfig::default(),
        &splits,
        Some(&cache),
        &device,
        &mut (),
    )?;
    let mut runs = Vec::new();
    for k in [0, 2, 4, 8, 16] {
        for seed in 0..3 {
            runs.push(evaluation.run(k, seed, &mut ())?);
        }
    }
    for s in summarize(&runs) {
        println!(
            "K = {:>2}: AUROC {:.3} ± {:.3}, ACC {:.3}, F1 {:.3}",
            s.k, s.auroc.mean, s.auroc.std, s.accuracy.mean, s.f1.mean
        );
    }
    Ok(())
}
