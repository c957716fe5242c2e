//! How the service listens, batches and bounds its work.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ServeError;

/// The service's settings. The defaults are safe for one detector on one machine: loopback only,
/// one DICOM radiograph per request at most, a few milliseconds of batching.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    /// Where to listen (loopback unless told otherwise).
    pub listen: SocketAddr,
    /// The largest request body read, in bytes: 413 beyond it, and no byte more is read.
    pub max_body_bytes: usize,
    /// Images per forward pass at most; `None`: the detector's own batch size (its config's
    /// `batch_size`, the one it was fitted and measured with).
    pub max_batch: Option<usize>,
    /// How long the first image of a batch waits for others, in milliseconds.
    pub batch_wait_ms: u64,
    /// Scoring requests admitted at once (reading, decoding, waiting or in a forward pass); one
    /// more is answered 503 with `Retry-After`. Bounds the memory that bodies and pixels take.
    pub max_in_flight: usize,
    /// Open connections at most; one more is answered 503 and closed.
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers.
    pub header_timeout_s: u64,
    /// Seconds a client has to send a request's body: 408 after it.
    pub body_timeout_s: u64,
    /// Seconds that requests in flight get to finish after SIGTERM or Ctrl-C.
    pub shutdown_grace_s: u64,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 64 << 20,
            max_batch: None,
            batch_wait_ms: 5,
            max_in_flight: 32,
            max_connections: 64,
            header_timeout_s: 10,
            body_timeout_s: 30,
            shutdown_grace_s: 60,
        }
    }
}

impl ServeConfig {
    /// Rejects values that would make the service refuse everything or wait forever, naming
    /// the setting.
    pub fn check(&self) -> Result<(), ServeError> {
        let positive = [
            ("max_body_bytes", self.max_body_bytes as u64),
            ("max_in_flight", self.max_in_flight as u64),
            ("max_connections", self.max_connections as u64),
            ("header_timeout_s", self.header_timeout_s),
            ("body_timeout_s", self.body_timeout_s),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(ServeError::Config {
                    name,
                    value: value.to_string(),
                    reason: "must be at least 1",
                });
            }
        }
        if let Some(batch) = self.max_batch
            && !(1..=wscxr::MAX_BATCH_SIZE).contains(&batch)
        {
            return Err(ServeError::Config {
                name: "max_batch",
                value: batch.to_string(),
                reason: "must be between 1 and wscxr::MAX_BATCH_SIZE",
            });
        }
        if self.batch_wait_ms > 1000 {
            return Err(ServeError::Config {
                name: "batch_wait_ms",
                value: self.batch_wait_ms.to_string(),
                reason: "at most 1000: a lone request waits this long",
            });
        }
        Ok(())
    }

    pub(crate) fn batch_wait(&self) -> Duration {
        Duration::from_millis(self.batch_wait_ms)
    }

    pub(crate) fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_s)
    }

    pub(crate) fn body_timeout(&self) -> Duration {
        Duration::from_secs(self.body_timeout_s)
    }

    pub(crate) fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_zeros_are_refused_by_name() {
        ServeConfig::default().check().unwrap();
        let zero_body = ServeConfig {
            max_body_bytes: 0,
            ..ServeConfig::default()
        };
        let error = zero_body.check().unwrap_err().to_string();
        assert!(error.contains("max_body_bytes"), "{error}");
        let huge_batch = ServeConfig {
            max_batch: Some(wscxr::MAX_BATCH_SIZE + 1),
            ..ServeConfig::default()
        };
        assert!(
            huge_batch
                .check()
                .unwrap_err()
                .to_string()
                .contains("max_batch")
        );
        assert!(ServeConfig::default().listen.ip().is_loopback());
    }
}
