//! The HTTP API: routes, the bearer-token check, and the request log and metrics around them.

use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Deserialize;
use serde_json::json;
use wscxr::input::{ImageError, ImageKind};
use wscxr::{Radiograph, ScoredImage};

use crate::api_error::ApiError;
use crate::engine::Engine;
use crate::state::AppState;

/// The page people open in a browser.
const PAGE: &str = include_str!("page/index.html");

/// The name that stands for a request's body in messages; never a file name from the client.
const BODY_NAME: &str = "the request body";

/// The routes, with the token check inside the request log (so refusals are logged and counted).
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/detector", get(detector))
        .route("/v1/score", post(score))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// The routes as the metrics name them: known paths only, so that scanners probing random
/// paths cannot grow the label set.
fn route_label(path: &str) -> &'static str {
    match path {
        "/" => "/",
        "/healthz" => "/healthz",
        "/readyz" => "/readyz",
        "/metrics" => "/metrics",
        "/v1/detector" => "/v1/detector",
        "/v1/score" => "/v1/score",
        _ => "other",
    }
}

static REQUESTS: AtomicU64 = AtomicU64::new(0);

/// Gives each request an id (answered as `x-request-id`), logs one line per request (route,
/// status, sizes, time: nothing from the image) and counts it.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let clock = Instant::now();
    let id = format!("{:016x}", REQUESTS.fetch_add(1, Ordering::Relaxed));
    let route = route_label(request.uri().path());
    let method = request.method().clone();
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut request = request;
    request.extensions_mut().insert(RequestId(id.clone()));
    let in_flight = InFlight::enter(&state);
    let mut response = next.run(request).await;
    drop(in_flight);
    let seconds = clock.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    state.metrics.answered(route, status, seconds);
    tracing::info!(
        request_id = %id,
        %method,
        route,
        status,
        request_bytes = declared,
        milliseconds = (seconds * 1000.0).round() as u64,
        "answered"
    );
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

#[derive(Clone)]
struct RequestId(String);

/// Counts a request in flight until it is answered or its client goes away (which drops the
/// handler's future mid-way).
struct InFlight(AppState);

impl InFlight {
    fn enter(state: &AppState) -> Self {
        state.metrics.in_flight.inc();
        Self(state.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.metrics.in_flight.dec();
    }
}

/// With a token configured, every route but `/healthz` and the page itself needs it. The page
/// is static text with nothing of the detector or of any image in it, and a browser cannot send
/// a bearer header when it opens a page; the page asks for the token and sends it on each API
/// call.
async fn authorize(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(token) = &state.token {
        let open = matches!(request.uri().path(), "/healthz" | "/");
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        if !open && !token.admits(presented) {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "this service needs `Authorization: Bearer <token>`",
            )
            .into_response();
        }
    }
    next.run(request).await
}

async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE,
    )
}

async fn healthz() -> impl IntoResponse {
    axum::Json(json!({"status": "up"}))
}

async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    state.engine()?;
    Ok(axum::Json(json!({"status": "ready"})))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

async fn detector(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(state.engine()?.description.clone()))
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such route")
}

/// What `POST /v1/score` adds to its answer on request.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum MapFormat {
    /// The heatmap as `wscxr score --heatmaps` draws it, as PNG.
    Png,
    /// The anomaly map as `wscxr score --maps` writes it, as NumPy's `.npy`.
    Npy,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScoreQuery {
    map: Option<MapFormat>,
}

/// Scores one X-ray sent as the request body (PNG, JPEG or DICOM, told by content).
async fn score(
    State(state): State<AppState>,
    query: Result<Query<ScoreQuery>, QueryRejection>,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, ApiError> {
    let clock = Instant::now();
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let engine = state.engine()?;
    let id = request
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    // Admission first: a full service reads no body. The permit is held to the answer, so that
    // bodies, pixels and maps in memory are bounded together.
    let _admitted = state
        .in_flight
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::busy("the service is at its limit of requests in flight"))?;
    let bytes = read_body(&state, &headers, request.into_body()).await?;
    let sent_as_dicom = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/dicom"));

    let decode_clock = Instant::now();
    let (radiograph, kind) = blocking(move || decode(&bytes, sent_as_dicom)).await??;
    let radiograph = Arc::new(radiograph);
    let decode_seconds = decode_clock.elapsed().as_secs_f64();

    let score_clock = Instant::now();
    let answer = engine
        .batcher
        .submit(radiograph.clone())
        .map_err(|_| ApiError::busy("the scoring queue is full"))?;
    let scored = answer
        .await
        .map_err(|_| ApiError::busy("the service is shutting down"))?
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e))?;
    let score_seconds = score_clock.elapsed().as_secs_f64();

    let map_clock = Instant::now();
    let map = match query.map {
        None => None,
        Some(format) => Some(map_answer(engine, &radiograph, &scored, format).await?),
    };
    let map_seconds = map_clock.elapsed().as_secs_f64();
    let calibration = engine.calibration();
    let body = json!({
        "request_id": id,
        "score": shortest(scored.score),
        "normalized": scored.normalized.map(shortest),
        "abnormal": scored.abnormal,
        "threshold": calibration.map(|c| shortest(c.threshold)),
        "rule": calibration.map(|c| c.rule),
        "colour_position": shortest(engine.colour_position(scored.score)),
        "image": {
            "width": radiograph.width(),
            "height": radiograph.height(),
            "kind": kind,
        },
        "grid": scored.grid,
        "identity": engine.identity,
        "seconds": {
            "decode": decode_seconds,
            "score": score_seconds,
            "map": map_seconds,
            "total": clock.elapsed().as_secs_f64(),
        },
        "map": map,
    });
    Ok(axum::Json(body).into_response())
}

/// Runs CPU work (decoding, drawing) off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// The `map` field: the heatmap or the anomaly map, drawn off the async workers, in base64.
async fn map_answer(
    engine: &Engine,
    radiograph: &Arc<Radiograph>,
    scored: &ScoredImage,
    format: MapFormat,
) -> Result<serde_json::Value, ApiError> {
    let (detector, radiograph, scored) =
        (engine.detector.clone(), radiograph.clone(), scored.clone());
    let bytes = blocking(move || draw(&detector, &radiograph, &scored, format))
        .await?
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    let name = match format {
        MapFormat::Png => "png",
        MapFormat::Npy => "npy",
    };
    Ok(json!({
        "format": name,
        "base64": base64::engine::general_purpose::STANDARD.encode(bytes),
    }))
}

/// An `f32` as JSON shows it to a reader: its shortest decimal (`1.2524257`, not the widened
/// `1.2524256706237793`), which still reads back as exactly the same `f32`.
pub(crate) fn shortest(value: f32) -> f64 {
    value.to_string().parse().unwrap_or(f64::NAN)
}

/// Reads the body within the size and time limits: 413 as soon as it is known to be too large
/// (from its declared length, before reading, or when the bytes pass the limit), 408 when the
/// client stalls.
async fn read_body(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let limit = state.config.max_body_bytes;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than the limit of {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|d| d > limit as u64) {
        return Err(too_large());
    }
    let collected = tokio::time::timeout(
        state.config.body_timeout(),
        Limited::new(body, limit).collect(),
    )
    .await
    .map_err(|_| {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the body did not arrive within {} s",
                state.config.body_timeout_s
            ),
        )
    })?;
    match collected {
        Ok(collected) => {
            let bytes = collected.to_bytes();
            if bytes.is_empty() {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "the body is empty: send one X-ray (PNG, JPEG or DICOM) as the body",
                ));
            }
            Ok(bytes)
        }
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the body could not be read: {e}"),
        )),
    }
}

/// Decodes the body as `wscxr score` decodes a file: 415 for bytes of no image kind read here,
/// 422 for an image that fails to decode (with the CLI's message).
fn decode(bytes: &[u8], sent_as_dicom: bool) -> Result<(Radiograph, &'static str), ApiError> {
    let decoded = if sent_as_dicom {
        Radiograph::from_dicom_bytes(BODY_NAME, bytes)
    } else {
        Radiograph::from_bytes(BODY_NAME, bytes)
    };
    let kind = match ImageKind::of(bytes) {
        Some(ImageKind::Dicom) => "dicom",
        Some(ImageKind::Png) => "png",
        Some(ImageKind::Jpeg) => "jpeg",
        None => "unknown",
    };
    decoded.map(|r| (r, kind)).map_err(|e| {
        let status = match e {
            ImageError::Unrecognised { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, e.to_string())
    })
}

/// The heatmap (PNG) or the anomaly map (`.npy`) of one scored image, in memory; the error is
/// the message for a 500.
fn draw(
    detector: &wscxr::Detector,
    radiograph: &Radiograph,
    scored: &ScoredImage,
    format: MapFormat,
) -> Result<Vec<u8>, String> {
    match format {
        MapFormat::Npy => {
            let size = [radiograph.height() as usize, radiograph.width() as usize];
            Ok(scored.map(size).map_err(|e| e.to_string())?.to_npy())
        }
        MapFormat::Png => {
            let picture = detector
                .heatmap(radiograph, scored)
                .map_err(|e| e.to_string())?;
            let mut png = Cursor::new(Vec::new());
            picture
                .write_to(&mut png, image::ImageFormat::Png)
                .map_err(|e| format!("cannot encode the heatmap: {e}"))?;
            Ok(png.into_inner())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_shown_short_and_read_back_exactly() {
        for value in [1.252_425_7_f32, -0.627_240_2, 1e-7, 0.0, 3.0] {
            let shown = shortest(value);
            assert_eq!(shown as f32, value);
            assert!(
                shown.to_string().len() <= value.to_string().len() + 2,
                "{shown}"
            );
        }
        assert_eq!(shortest(1.252_425_7).to_string(), "1.2524257");
    }

    #[test]
    fn unknown_paths_share_one_label() {
        assert_eq!(route_label("/v1/score"), "/v1/score");
        assert_eq!(route_label("/wp-admin/setup.php"), "other");
        assert_eq!(route_label("/v1/score/"), "other");
    }

    #[test]
    fn bytes_of_no_image_are_415_and_broken_images_422() {
        let not_image = decode(b"hello, this is text", false).unwrap_err();
        assert_eq!(not_image.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend_from_slice(&[0; 40]);
        let broken = decode(&png, false).unwrap_err();
        assert_eq!(broken.status, StatusCode::UNPROCESSABLE_ENTITY);
        let not_dicom = decode(b"hello, this is text", true).unwrap_err();
        assert_eq!(not_dicom.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            not_dicom.message.contains("not readable DICOM"),
            "{}",
            not_dicom.message
        );
    }
}
