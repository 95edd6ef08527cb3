//! Prometheus metrics, declared in one place with their help text. Labels
//! are bounded: event types the bridge does not know become `other`; route
//! labels are never raw paths; nothing secret is ever a label.

use std::sync::{LazyLock, atomic::AtomicI64};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

use crate::ado::KNOWN_EVENT_TYPES;

/// `source`, `event_type`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// Source name.
    pub source: String,
    /// ADO event type, or `other`.
    pub event_type: String,
}

/// `reason`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// Why a request was refused.
    pub reason: String,
}

/// `kind`, `outcome`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    /// `start`, `signal`, `signalWithStart`.
    pub kind: String,
    /// `started`, `signaled`, `alreadyRunning`, `failed`, `deadLettered` ...
    pub outcome: String,
}

/// `kind`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// Temporal call kind.
    pub kind: String,
}

/// `file`, `result`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    /// `secret` or `tls_certificate`.
    pub file: String,
    /// `ok`, or `error` (the previous version stays in use).
    pub result: String,
}

/// Reloads of the files the bridge watches, process-wide: they happen deep
/// in verification and TLS, far from any one set of metrics.
static RELOADS: LazyLock<Family<ReloadLabels, Counter>> = LazyLock::new(Family::default);

/// Counts a reload of a watched file (`secret`, `tls_certificate`).
pub fn count_reload(file: &str, ok: bool) {
    RELOADS
        .get_or_create(&ReloadLabels {
            file: file.to_owned(),
            result: if ok { "ok" } else { "error" }.to_owned(),
        })
        .inc();
}

fn latency_histogram() -> Histogram {
    // 1 ms to about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// Every metric the bridge exports.
pub struct Metrics {
    registry: Registry,
    /// Deliveries that passed verification and parsed.
    pub received: Family<DeliveryLabels, Counter>,
    /// Requests refused, by reason.
    pub rejected: Family<ReasonLabels, Counter>,
    /// Deliveries no rule matched.
    pub ignored: Family<DeliveryLabels, Counter>,
    /// Redeliveries recognised.
    pub duplicates: Counter,
    /// Temporal actions by kind and outcome.
    pub actions: Family<ActionLabels, Counter>,
    /// Temporal call latency.
    pub temporal_latency: Family<KindLabels, Histogram, fn() -> Histogram>,
    /// Receipt to Temporal acceptance.
    pub end_to_end_latency: Histogram,
    /// Actions waiting in the spool.
    pub spool_pending: Gauge,
    /// Age of the oldest pending action.
    pub spool_oldest_age: Gauge<f64, std::sync::atomic::AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("ado_bridge");
        let m = Self {
            received: Family::default(),
            rejected: Family::default(),
            ignored: Family::default(),
            duplicates: Counter::default(),
            actions: Family::default(),
            temporal_latency: Family::new_with_constructor(latency_histogram),
            end_to_end_latency: latency_histogram(),
            spool_pending: Gauge::<i64, AtomicI64>::default(),
            spool_oldest_age: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "deliveries_received",
            "Deliveries that passed verification and parsed",
            m.received.clone(),
        );
        registry.register(
            "deliveries_rejected",
            "Requests refused, by reason",
            m.rejected.clone(),
        );
        registry.register(
            "deliveries_ignored",
            "Deliveries no rule matched",
            m.ignored.clone(),
        );
        registry.register(
            "deliveries_duplicate",
            "Redeliveries recognised and answered without action",
            m.duplicates.clone(),
        );
        registry.register(
            "actions",
            "Temporal actions by kind and outcome",
            m.actions.clone(),
        );
        registry.register_with_unit(
            "temporal_call_duration",
            "Latency of Temporal calls",
            prometheus_client::registry::Unit::Seconds,
            m.temporal_latency.clone(),
        );
        registry.register_with_unit(
            "delivery_to_acceptance",
            "Time from receiving a delivery to Temporal accepting its action",
            prometheus_client::registry::Unit::Seconds,
            m.end_to_end_latency.clone(),
        );
        registry.register(
            "spool_pending_actions",
            "Actions waiting in the spool",
            m.spool_pending.clone(),
        );
        registry.register_with_unit(
            "spool_oldest_pending_age",
            "Age of the oldest action waiting in the spool",
            prometheus_client::registry::Unit::Seconds,
            m.spool_oldest_age.clone(),
        );
        registry.register(
            "config_reloads",
            "Watched files (secret files, TLS certificate) reloaded after a change, by result",
            RELOADS.clone(),
        );
        Self { registry, ..m }
    }
}

impl Metrics {
    /// The label set for a delivery.
    pub fn delivery(source: &str, event_type: &str) -> DeliveryLabels {
        let event_type = if KNOWN_EVENT_TYPES.contains(&event_type) {
            event_type
        } else {
            "other"
        };
        DeliveryLabels {
            source: source.to_owned(),
            event_type: event_type.to_owned(),
        }
    }

    /// Counts an answer's status if it is a refusal.
    pub fn count_refusal(&self, status: u16) {
        let reason = match status {
            401 => "auth",
            403 => "forbidden",
            400 => "malformed",
            413 => "too_large",
            404 => "unknown_source",
            _ => return,
        };
        self.rejected
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// Refusals counted for `reason` since start.
    pub fn rejected_count(&self, reason: &str) -> u64 {
        self.rejected
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .get()
    }

    /// Counts an action's outcome.
    pub fn action(&self, kind: &str, outcome: &str) {
        self.actions
            .get_or_create(&ActionLabels {
                kind: kind.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Records a Temporal call's duration.
    pub fn temporal_call(&self, kind: &str, seconds: f64) {
        self.temporal_latency
            .get_or_create(&KindLabels {
                kind: kind.to_owned(),
            })
            .observe(seconds);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = encode(&mut out, &self.registry);
        out
    }
}
