//! What every request handler shares.

use std::ops::Deref;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::{Notify, Semaphore};

use crate::api_error::ApiError;
use crate::config::ServeConfig;
use crate::engine::Engine;
use crate::error::ServeError;
use crate::metrics::Metrics;
use crate::token::Token;

/// The handlers' state: cheap to clone.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Shared>);

pub(crate) struct Shared {
    pub config: ServeConfig,
    pub token: Option<Token>,
    pub metrics: Arc<Metrics>,
    /// Scoring requests admitted at once ([`ServeConfig::max_in_flight`]).
    pub in_flight: Arc<Semaphore>,
    /// Set once the detector is loaded and warm; until then scoring answers 503.
    engine: OnceLock<Engine>,
    /// Why loading failed, for the process's exit.
    pub failure: Mutex<Option<ServeError>>,
    /// Stops the service from within (a failed load).
    pub stop: Notify,
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub(crate) fn new(config: ServeConfig, token: Option<Token>) -> Self {
        Self(Arc::new(Shared {
            in_flight: Arc::new(Semaphore::new(config.max_in_flight)),
            config,
            token,
            metrics: Arc::new(Metrics::new()),
            engine: OnceLock::new(),
            failure: Mutex::new(None),
            stop: Notify::new(),
        }))
    }

    /// The loaded detector, or 503 while it loads.
    pub(crate) fn engine(&self) -> Result<&Engine, ApiError> {
        self.engine
            .get()
            .ok_or_else(|| ApiError::busy("the detector is still loading"))
    }

    /// Records why loading failed and stops the service, which then returns that error.
    pub(crate) fn fail(&self, error: ServeError) {
        *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
        self.stop.notify_one();
    }

    pub(crate) fn set_engine(&self, engine: Engine) {
        // Set once, by the one loader.
        let _ = self.engine.set(engine);
    }
}
