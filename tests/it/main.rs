//! Integration tests, in one binary so that burn is linked once.
//!
//! Tests that need `../shared` (weights, fixtures, X-rays) or a wgpu device fail without them,
//! unless the runner opted out with `WSCXR_SKIP_SHARED=1` / `WSCXR_SKIP_WGPU=1` (never under CI):
//! then they print `SKIPPED:` and record themselves in `$WSCXR_SKIP_LOG` (see `common.rs`).

mod architecture;
mod backbone_parity;
mod backbone_weights;
mod bank;
mod behaviour;
mod common;
mod config;
mod dicom;
mod files;
mod localisation;
mod opt_out;
mod pipeline;
mod preprocess;
mod robustness;
