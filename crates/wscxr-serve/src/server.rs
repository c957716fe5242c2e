//! The accept loop: a connection limit, a deadline for each request's headers, and a graceful
//! stop that finishes the requests in flight.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use wscxr::burn::prelude::Device;

use crate::config::ServeConfig;
use crate::engine::Engine;
use crate::error::ServeError;
use crate::routes::router;
use crate::state::AppState;
use crate::token::Token;

/// What `wscxr serve` serves: a saved detector on a device, with its settings.
#[derive(Debug, Clone)]
pub struct Service {
    /// A detector file written by `wscxr fit` or `Detector::save`.
    pub detector: PathBuf,
    /// Where its forward passes run.
    pub device: Device,
    /// Listening, batching and limits.
    pub config: ServeConfig,
    /// When set, required as `Authorization: Bearer <token>` on every route but `/healthz` and
    /// the page.
    pub token: Option<Token>,
}

impl Service {
    /// Listens on `config.listen`, tells `listening` the address (port 0 picks a free one),
    /// loads and warms the detector while `/healthz` already answers, serves until SIGTERM or
    /// Ctrl-C, then finishes the requests in flight and returns. A detector that fails to load
    /// stops the service with its error.
    pub fn run(self, listening: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
        self.config.check()?;
        // Two workers are plenty for I/O: decoding runs on the blocking pool and the forward
        // pass on its own thread (and rayon's).
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("wscxr-serve")
            .enable_all()
            .build()
            .map_err(|source| ServeError::Io {
                what: "cannot start the async runtime",
                source,
            })?;
        runtime.block_on(async move {
            let addr = self.config.listen;
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| ServeError::Listen { addr, source })?;
            let local = listener.local_addr().map_err(|source| ServeError::Io {
                what: "cannot read the listening address",
                source,
            })?;
            listening(local);
            self.serve(listener, stop_signal()).await
        })
    }

    /// Serves on `listener` until `shutdown` completes (or the detector fails to load), then
    /// stops accepting and waits up to `shutdown_grace_s` for the requests in flight.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ServeError> {
        self.config.check()?;
        let state = AppState::new(self.config.clone(), self.token.clone());
        let loader = state.clone();
        let (file, device, config) = (self.detector, self.device, self.config);
        tokio::spawn(async move {
            let metrics = loader.metrics.clone();
            let loading = tokio::task::spawn_blocking({
                let config = config.clone();
                move || Engine::load(&file, &device, &config, metrics)
            });
            match loading.await {
                Ok(Ok(engine)) => loader.set_engine(engine),
                // A panic in loading is a failed load too: the process must not exit 0.
                Ok(Err(e)) => loader.fail(e),
                Err(e) => loader.fail(ServeError::LoadPanicked(e.to_string())),
            }
        });

        let app = router(state.clone());
        let connections = Arc::new(Semaphore::new(state.config.max_connections));
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(state.config.header_timeout());
        let graceful = GracefulShutdown::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let stream = match accepted {
                        Ok((stream, _peer)) => stream,
                        Err(e) => {
                            // Out of file descriptors, say: wait a little rather than spin.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let Ok(permit) = connections.clone().try_acquire_owned() else {
                        state.metrics.refused_connection();
                        tokio::spawn(refuse(stream));
                        continue;
                    };
                    let service = TowerToHyperService::new(app.clone());
                    let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                    tokio::spawn(async move {
                        if let Err(e) = connection.await {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                        drop(permit);
                    });
                }
                _ = &mut shutdown => {
                    tracing::info!("stopping: no new connections, finishing requests in flight");
                    break;
                }
                _ = state.stop.notified() => break,
            }
        }
        drop(listener);
        if tokio::time::timeout(state.config.shutdown_grace(), graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                seconds = state.config.shutdown_grace_s,
                "requests still in flight after the grace period were dropped"
            );
        }
        let failure = state
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// A connection past the limit gets a short 503 and is closed, rather than left waiting.
async fn refuse(mut stream: TcpStream) {
    let body = r#"{"error":"the service is at its connection limit","status":503}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), write).await;
}

/// SIGTERM (what `docker stop`, Kubernetes and systemd send) or Ctrl-C.
async fn stop_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
