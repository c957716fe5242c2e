//! The loaded detector and what the service says about it: identity, configuration,
//! calibration, colour scale, grid.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;
use wscxr::burn::prelude::Device;
use wscxr::{Calibration, Detector, FORMAT_VERSION, Radiograph};

use crate::batcher::Batcher;
use crate::config::ServeConfig;
use crate::error::ServeError;
use crate::metrics::Metrics;

/// Which detector answered: the file's and the weights' SHA-256, and the file format.
#[derive(Debug, Clone, Serialize)]
pub struct Identity {
    /// SHA-256 of the detector file as loaded.
    pub file_sha256: String,
    /// SHA-256 of its backbone weights.
    pub weights_sha256: String,
    /// The detector file format's version.
    pub format_version: u32,
}

/// The detector, loaded and warm, with the batcher that runs its forward passes.
pub(crate) struct Engine {
    pub detector: Arc<Detector>,
    pub identity: Identity,
    /// `GET /v1/detector`'s answer, made once.
    pub description: Value,
    pub batcher: Batcher,
}

/// Colours of the heatmaps' scale sampled from low to high, for the page's colour bar.
const COLOUR_SAMPLES: usize = 9;

impl Engine {
    /// Loads `file`, hashes it, runs one warm-up pass and starts the batcher.
    pub(crate) fn load(
        file: &Path,
        device: &Device,
        config: &ServeConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ServeError> {
        let clock = Instant::now();
        let detector = Detector::load(file, device)?;
        let file_sha256 = wscxr::file_sha256(file)?;
        // Warm-up: the first pass allocates and packs what later ones reuse. A mid-gray square
        // holds nothing of anyone.
        let side = detector.config().image_size as u32;
        let blank = Radiograph::gray8("warm-up", side, side, vec![128; (side * side) as usize])?;
        let warm = detector.score([blank])?;
        let grid = warm[0].grid;
        tracing::info!(
            seconds = clock.elapsed().as_secs_f64(),
            "detector loaded and warm"
        );
        let identity = Identity {
            file_sha256,
            weights_sha256: detector.weights_sha256().to_string(),
            format_version: FORMAT_VERSION,
        };
        let description = describe(&detector, &identity, grid);
        let detector = Arc::new(detector);
        let max_batch = config.max_batch.unwrap_or(detector.config().batch_size);
        let batcher = Batcher::start(
            detector.clone(),
            max_batch,
            config.batch_wait(),
            config.max_in_flight,
            metrics,
        );
        Ok(Self {
            detector,
            identity,
            description,
            batcher,
        })
    }

    /// Where `score` falls on the heatmaps' colour bar, in [0, 1].
    pub(crate) fn colour_position(&self, score: f32) -> f32 {
        self.detector.colour_scale().position(score)
    }

    pub(crate) fn calibration(&self) -> Option<&Calibration> {
        self.detector.calibration()
    }
}

fn describe(detector: &Detector, identity: &Identity, grid: [usize; 2]) -> Value {
    let config = detector.config();
    let scale = detector.colour_scale();
    let colours: Vec<[u8; 3]> = (0..COLOUR_SAMPLES)
        .map(|i| {
            let t = i as f32 / (COLOUR_SAMPLES - 1) as f32;
            wscxr::heatmap::colour(t).map(|c| (c * 255.0).round() as u8)
        })
        .collect();
    serde_json::json!({
        "network": config.backbone,
        "taps": config.layers,
        "image_size": config.image_size,
        "grid": grid,
        "unsupervised": detector.is_unsupervised(),
        "calibration": detector.calibration().map(|c| serde_json::json!({
            "threshold": c.threshold,
            "rule": c.rule,
            "normal_images": c.normal_images,
            "abnormal_images": c.abnormal_images,
        })),
        "colour_scale": {
            "low": scale.low,
            "high": scale.high,
            "threshold": scale.threshold,
            "threshold_position": scale.threshold.map(|t| scale.position(t)),
            "colours": colours,
        },
        "identity": identity,
        "config": config,
    })
}
