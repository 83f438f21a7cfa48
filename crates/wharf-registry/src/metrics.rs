//! `/metrics` in the Prometheus text format: requests by route, method and status, a
//! latency histogram by route (time to the response head; a blob's body streams after),
//! bytes received and sent, upload sessions open, and bytes stored. Labels name endpoint
//! kinds, never repositories, so the page reveals no names. With auth on, the registry's
//! listener answers `/metrics` only to identified callers; `metrics-addr` serves it on a
//! listener of its own instead (as distribution's debug port), without auth.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use crate::service::Registry;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, String, u16), u64>>,
    latency: Mutex<BTreeMap<&'static str, Histogram>>,
    bytes_in: Arc<AtomicU64>,
    bytes_out: AtomicU64,
}

impl Metrics {
    fn record(&self, route: &'static str, method: &str, status: u16, seconds: f64, sent: u64) {
        {
            let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
            *requests
                .entry((route, method.to_string(), status))
                .or_default() += 1;
        }
        {
            let mut latency = self.latency.lock().unwrap_or_else(|e| e.into_inner());
            let h = latency.entry(route).or_default();
            for (i, bound) in BUCKETS.iter().enumerate() {
                if seconds <= *bound {
                    h.counts[i] += 1;
                }
            }
            h.count += 1;
            h.sum += seconds;
        }
        self.bytes_out.fetch_add(sent, Ordering::Relaxed);
    }

    /// The exposition text; `uploads` and `stored` are read from the database per scrape.
    pub fn render(&self, uploads: u64, stored: u64) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP wharf_http_requests_total HTTP requests by route, method and status.\n",
        );
        out.push_str("# TYPE wharf_http_requests_total counter\n");
        for ((route, method, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "wharf_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP wharf_http_request_duration_seconds Time to the response head, by route.\n",
        );
        out.push_str("# TYPE wharf_http_request_duration_seconds histogram\n");
        for (route, h) in self
            .latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            for (bound, n) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(
                    out,
                    "wharf_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "wharf_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "wharf_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "wharf_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        let gauges = [
            (
                "wharf_http_request_bytes_total",
                "counter",
                "Request body bytes received.",
                self.bytes_in.load(Ordering::Relaxed),
            ),
            (
                "wharf_http_response_bytes_total",
                "counter",
                "Response body bytes sent (as announced by Content-Length).",
                self.bytes_out.load(Ordering::Relaxed),
            ),
            (
                "wharf_uploads_in_progress",
                "gauge",
                "Upload sessions open.",
                uploads,
            ),
            (
                "wharf_storage_bytes",
                "gauge",
                "Bytes of the blobs stored.",
                stored,
            ),
        ];
        for (name, kind, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        out
    }
}

/// Middleware: counts every request under its route label.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = crate::routes::route_label(request.uri().path());
    let method = request.method().to_string();
    // Bodies are counted as they stream (uploads are often chunked, without a length).
    let counter = metrics.bytes_in.clone();
    let request = request.map(|body| {
        Body::from_stream(body.into_data_stream().map(move |chunk| {
            if let Ok(bytes) = &chunk {
                counter.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            }
            chunk
        }))
    });
    let response = next.run(request).await;
    let sent = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(0);
    metrics.record(
        route,
        &method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
        sent,
    );
    response
}

/// Middleware of `/metrics` on the registry's own listener: with auth on, anonymous
/// callers get the 401 challenge and any identified caller is answered.
pub async fn identified(
    State(gate): State<Arc<crate::gate::Gate>>,
    request: Request,
    next: Next,
) -> Response {
    if !gate.is_open() {
        let checked = match gate.caller(request.headers()).await {
            Ok(access) => gate.check_base(&access),
            Err(e) => Err(e),
        };
        if let Err(e) = checked {
            return e.into_response();
        }
    }
    next.run(request).await
}

/// `GET /metrics`.
pub async fn endpoint(
    State((metrics, registry)): State<(Arc<Metrics>, Arc<Registry>)>,
) -> Response {
    match registry.usage().await {
        Ok((uploads, stored)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            metrics.render(uploads, stored),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}
