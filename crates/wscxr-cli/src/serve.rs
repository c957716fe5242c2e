//! `wscxr serve`: the scoring service (crate `wscxr-serve`) from the command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use wscxr_serve::{ServeConfig, Service, Token};

/// Flags of `wscxr serve`.
#[derive(clap::Args)]
pub struct Args {
    /// A detector saved by `wscxr fit` (or `Detector::save`).
    #[arg(long)]
    detector: PathBuf,
    /// Address to listen on; loopback unless told otherwise (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// A file whose first line is the token that every route but /healthz and the page
    /// requires as `Authorization: Bearer <token>` (at least 16 printable characters).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// The largest request body in MiB (413 beyond it).
    #[arg(long, default_value_t = 64)]
    max_body_mib: usize,
    /// Images per forward pass at most (default: the detector's batch size).
    #[arg(long)]
    max_batch: Option<usize>,
    /// How long the first request of a batch waits for others, in milliseconds.
    #[arg(long, default_value_t = 5)]
    batch_wait_ms: u64,
    /// Scoring requests admitted at once; one more is answered 503 with Retry-After.
    #[arg(long, default_value_t = 32)]
    max_in_flight: usize,
    /// Open connections at most; one more is answered 503 and closed.
    #[arg(long, default_value_t = 64)]
    max_connections: usize,
    /// Seconds a client has to send a request's headers, and again its body.
    #[arg(long, default_value_t = 10)]
    client_timeout_s: u64,
    /// burn backend: flex, ndarray or wgpu.
    #[arg(long, default_value = "flex")]
    backend: String,
}

/// Runs `wscxr serve` until SIGTERM or Ctrl-C.
pub fn run(args: &Args) -> Result<(), String> {
    if !args.detector.is_file() {
        return Err(format!(
            "--detector: {}: no such file",
            args.detector.display()
        ));
    }
    let token = match &args.token_file {
        Some(file) => Some(Token::read(file).map_err(|e| format!("--token-file: {e}"))?),
        None => None,
    };
    let config = ServeConfig {
        listen: args.listen,
        max_body_bytes: args.max_body_mib.saturating_mul(1 << 20),
        max_batch: args.max_batch,
        batch_wait_ms: args.batch_wait_ms,
        max_in_flight: args.max_in_flight,
        max_connections: args.max_connections,
        header_timeout_s: args.client_timeout_s,
        body_timeout_s: args.client_timeout_s,
        ..ServeConfig::default()
    };
    config
        .check()
        .map_err(|e| format!("{}: {e}", flag_of(&e)))?;
    let device = wscxr::device::device(&args.backend).map_err(|e| format!("--backend: {e}"))?;
    if !args.listen.ip().is_loopback() {
        tracing::warn!(
            listen = %args.listen,
            token = token.is_some(),
            "listening beyond this machine"
        );
    }
    let service = Service {
        detector: args.detector.clone(),
        device,
        config,
        token,
    };
    service
        .run(|addr| eprintln!("wscxr serve: listening on http://{addr}"))
        .map_err(|e| e.to_string())
}

/// The flag behind a rejected setting.
fn flag_of(error: &wscxr_serve::ServeError) -> &'static str {
    match error {
        wscxr_serve::ServeError::Config { name, .. } => match *name {
            "max_body_bytes" => "--max-body-mib",
            "max_batch" => "--max-batch",
            "batch_wait_ms" => "--batch-wait-ms",
            "max_in_flight" => "--max-in-flight",
            "max_connections" => "--max-connections",
            _ => "--client-timeout-s",
        },
        _ => "serve",
    }
}
