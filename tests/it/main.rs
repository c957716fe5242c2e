//! Integration tests, in one binary so that burn is linked once.
//!
//! Tests that need `../shared` (weights, fixtures, X-rays) report SKIPPED when it is missing on a
//! developer's machine and fail under CI.

mod backbone_parity;
mod backbone_weights;
mod bank;
mod common;
mod config;
mod pipeline;
mod preprocess;
