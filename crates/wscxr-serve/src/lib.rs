//! # wscxr-serve
//!
//! The scoring service behind `wscxr serve`: a saved chest X-ray anomaly detector behind an
//! HTTP API and a page, for a PACS router, a worklist script or a person at a browser.
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/score[?map=png\|npy]` | one X-ray as the body (PNG, JPEG or DICOM, told by content): score, decision at the calibrated threshold, image size, detector identity, times; with `map`, the heatmap (PNG) or the anomaly map (`.npy`) in base64 |
//! | `GET /v1/detector` | configuration, calibration, colour scale, grid, identity |
//! | `GET /healthz`, `GET /readyz` | the process is up; the detector is loaded and warm |
//! | `GET /metrics` | requests by route and status, latency, queue depth, batch sizes, images per second |
//! | `GET /` | a page that scores a dropped X-ray and shows its heatmap |
//!
//! Concurrent requests are scored together: one thread runs the forward passes and takes every
//! image that arrives within a few milliseconds of the first, up to the detector's batch size.
//! Decoding and drawing run on other threads. Everything is bounded: body size (413), requests
//! in flight (503 with `Retry-After`), connections, the time to send headers and body (408).
//! Nothing received is written to disk, and the request log holds ids, routes, statuses, sizes
//! and times only.
//!
//! ```no_run
//! use wscxr::burn::prelude::Device;
//! use wscxr_serve::{ServeConfig, Service};
//!
//! let service = Service {
//!     detector: "quickstart-out/detector.wscxr".into(),
//!     device: Device::flex(),
//!     config: ServeConfig::default(), // 127.0.0.1:8080
//!     token: None,
//! };
//! service.run(|addr| eprintln!("listening on http://{addr}"))?;
//! # Ok::<(), wscxr_serve::ServeError>(())
//! ```

#![warn(missing_docs)]

mod api_error;
mod batcher;
mod config;
mod engine;
mod error;
mod metrics;
mod routes;
mod server;
mod state;
mod token;

pub use config::ServeConfig;
pub use engine::Identity;
pub use error::ServeError;
pub use server::Service;
pub use token::Token;
