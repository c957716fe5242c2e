//! `GET /metrics`: what the service did, in Prometheus' text format.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Requests by route and status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub route: &'static str,
    pub status: u16,
}

/// Latency by route.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteLabels {
    pub route: &'static str,
}

/// The window over which images per second are reported.
const RATE_WINDOW: Duration = Duration::from_secs(10);

fn latency_histogram() -> Histogram {
    // 1 ms to about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// Every metric the service exports.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub queue_depth: Gauge,
    pub in_flight: Gauge,
    pub batch_sizes: Histogram,
    images: Counter,
    refused_connections: Counter,
    images_per_second: Gauge<f64, AtomicU64>,
    /// Batches of the last [`RATE_WINDOW`]: when each finished and how many images it held.
    recent: Mutex<VecDeque<(Instant, usize)>>,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("wscxr");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let queue_depth = Gauge::default();
        let in_flight = Gauge::default();
        // 1, 2, 4, ..., 64 images.
        let batch_sizes = Histogram::new(exponential_buckets(1.0, 2.0, 7));
        let images = Counter::default();
        let refused_connections = Counter::default();
        let images_per_second = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's headers to its answer, by route",
            latency.clone(),
        );
        registry.register(
            "queue_depth",
            "Decoded images waiting for a forward pass",
            queue_depth.clone(),
        );
        registry.register(
            "http_requests_in_flight",
            "Requests received and not yet answered",
            in_flight.clone(),
        );
        registry.register("batch_size", "Images per forward pass", batch_sizes.clone());
        registry.register("images_scored", "Images scored", images.clone());
        registry.register(
            "refused_connections",
            "Connections refused at the connection limit",
            refused_connections.clone(),
        );
        registry.register(
            "images_per_second",
            "Images scored per second over the last 10 seconds",
            images_per_second.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            queue_depth,
            in_flight,
            batch_sizes,
            images,
            refused_connections,
            images_per_second,
            recent: Mutex::new(VecDeque::new()),
        }
    }

    /// One answered request.
    pub(crate) fn answered(&self, route: &'static str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels { route, status })
            .inc();
        self.latency
            .get_or_create(&RouteLabels { route })
            .observe(seconds);
    }

    /// One forward pass of `images` images done.
    pub(crate) fn scored(&self, images: usize) {
        self.images.inc_by(images as u64);
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        recent.push_back((now, images));
        while recent
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > RATE_WINDOW)
        {
            recent.pop_front();
        }
    }

    /// A connection refused at the limit.
    pub(crate) fn refused_connection(&self) {
        self.refused_connections.inc();
    }

    /// The text exposition, with the rate brought up to date.
    pub(crate) fn encode(&self) -> String {
        {
            let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let images: usize = recent
                .iter()
                .filter(|(t, _)| now.duration_since(*t) <= RATE_WINDOW)
                .map(|(_, n)| n)
                .sum();
            self.images_per_second
                .set(images as f64 / RATE_WINDOW.as_secs_f64());
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_counts_what_happened() {
        let metrics = Metrics::new();
        metrics.answered("/v1/score", 200, 0.25);
        metrics.answered("/v1/score", 200, 0.5);
        metrics.answered("/v1/score", 415, 0.001);
        metrics.batch_sizes.observe(3.0);
        metrics.scored(3);
        metrics.queue_depth.set(2);
        let text = metrics.encode();
        assert!(
            text.contains(r#"wscxr_http_requests_total{route="/v1/score",status="200"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"wscxr_http_requests_total{route="/v1/score",status="415"} 1"#),
            "{text}"
        );
        assert!(text.contains("wscxr_images_scored_total 3"), "{text}");
        assert!(text.contains("wscxr_queue_depth 2"), "{text}");
        assert!(text.contains("wscxr_images_per_second 0.3"), "{text}");
        assert!(text.contains("wscxr_batch_size_count 1"), "{text}");
        assert!(text.trim_end().ends_with("# EOF"), "{text}");
    }
}
