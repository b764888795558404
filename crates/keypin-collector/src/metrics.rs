//! `GET /metrics`: the collector's counters in the Prometheus (OpenMetrics) text format, with
//! prometheus-client: reports accepted and refused by reason, rate-limited requests, the
//! store's latency per operation, and alert deliveries by outcome.

use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Op {
    op: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

/// Ingest's refusals: the status and the reason label it is counted under.
const REFUSALS: [(u16, &str); 6] = [
    (400, "invalid"),
    (408, "body_timeout"),
    (413, "too_large"),
    (500, "internal"),
    (503, "store_unavailable"),
    (507, "store_full"),
];

type Latency = Family<Op, Histogram, fn() -> Histogram>;

/// The collector's metrics, one set per instance.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    accepted: Counter,
    refused: Family<Reason, Counter>,
    rate_limited: Counter,
    store_seconds: Latency,
    deliveries: Family<Outcome, Counter>,
}

/// An alert delivery's outcome, as counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// The webhook took it (2xx).
    Ok,
    /// An attempt failed and another follows.
    Retried,
    /// Given up: attempts spent, or the webhook refused it for good (4xx).
    Failed,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to about 4 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("keypin_collector");
        let accepted = Counter::default();
        let refused = Family::<Reason, Counter>::default();
        let rate_limited = Counter::default();
        let store_seconds: Latency = Family::new_with_constructor(latency_histogram);
        let deliveries = Family::<Outcome, Counter>::default();
        registry.register(
            "reports_accepted",
            "Reports stored (acknowledged)",
            accepted.clone(),
        );
        registry.register(
            "reports_refused",
            "Ingest requests refused, by reason",
            refused.clone(),
        );
        registry.register(
            "rate_limited_requests",
            "Ingest requests refused by the per-client rate limit",
            rate_limited.clone(),
        );
        registry.register(
            "store_seconds",
            "Time of store calls, by operation",
            store_seconds.clone(),
        );
        registry.register(
            "alert_deliveries",
            "Alert webhook deliveries, by outcome",
            deliveries.clone(),
        );
        // Every series at 0 from the start: a rate() over a series that appears only at its
        // first event misses that event.
        for (_, reason) in REFUSALS {
            let _ = refused.get_or_create(&Reason { reason });
        }
        for outcome in ["ok", "retried", "failed"] {
            let _ = deliveries.get_or_create(&Outcome { outcome });
        }
        let _ = store_seconds.get_or_create(&Op { op: "insert" });
        Self {
            registry,
            accepted,
            refused,
            rate_limited,
            store_seconds,
            deliveries,
        }
    }

    /// `n` reports stored.
    pub fn accepted(&self, n: usize) {
        self.accepted.inc_by(n as u64);
    }

    /// An ingest answer with `status`: counted as rate-limited or refused by its reason
    /// (2xx and statuses ingest does not give are not counted).
    pub fn ingest_status(&self, status: u16) {
        if status == 429 {
            self.rate_limited.inc();
            return;
        }
        if let Some((_, reason)) = REFUSALS.iter().find(|(s, _)| *s == status) {
            self.refused.get_or_create(&Reason { reason }).inc();
        }
    }

    /// Runs store call `op`, timing it.
    pub fn time<T>(&self, op: &'static str, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        self.store_seconds
            .get_or_create(&Op { op })
            .observe(start.elapsed().as_secs_f64());
        out
    }

    /// One alert delivery outcome.
    pub fn delivery(&self, d: Delivery) {
        let outcome = match d {
            Delivery::Ok => "ok",
            Delivery::Retried => "retried",
            Delivery::Failed => "failed",
        };
        self.deliveries.get_or_create(&Outcome { outcome }).inc();
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
