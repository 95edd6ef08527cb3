//! Observing: logs and traces.
//!
//! Logs are human-readable text on a terminal and one JSON object per line
//! otherwise (containers), switchable by config or `BRIDGE_LOG_FORMAT`.
//!
//! Traces are exported with OpenTelemetry over OTLP (HTTP, protobuf) when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is
//! set, and off otherwise. The SDK reads the standard variables itself
//! (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`
//! and `_ARG`, `OTEL_EXPORTER_OTLP_HEADERS`, `_TIMEOUT`). Each delivery is
//! one trace (or joins the caller's, from `traceparent`), and the context
//! of the span that calls Temporal travels in the request's `_tracer-data`
//! header, so the workflow's own spans continue the same trace.

use std::{collections::HashMap, io::IsTerminal};

use opentelemetry::{
    propagation::TextMapPropagator,
    trace::{TraceContextExt, TracerProvider as _},
};
use opentelemetry_sdk::{
    propagation::TraceContextPropagator,
    trace::{BatchSpanProcessor, SdkTracerProvider},
};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, fmt, prelude::*};

use crate::{config::LogFormat, temporal::TraceContext};

/// Name the bridge reports itself under unless `OTEL_SERVICE_NAME` says
/// otherwise.
const SERVICE_NAME: &str = "ado-temporal-bridge";

/// What trace export sends: the bridge's own spans (the finer ones are
/// `debug`, so logs at `info` do not pay for them) and other crates'
/// warnings, but never the exporter's own messages (they go to the log).
const TRACE_FILTER: &str = "ado_temporal_bridge=debug,opentelemetry=off,warn";

/// Keeps trace export running; [`Telemetry::shutdown`] flushes what is
/// buffered.
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Exports the spans still buffered and stops the exporter.
    pub fn shutdown(self) {
        if let Some(p) = self.provider
            && let Err(e) = p.shutdown()
        {
            eprintln!("warning: flushing traces: {e}");
        }
    }
}

fn env_set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.trim().is_empty())
}

/// Why trace export is off, or `None` when it should be on.
fn export_off_reason() -> Option<String> {
    if !env_set("OTEL_EXPORTER_OTLP_ENDPOINT") && !env_set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        return Some("no OTLP endpoint set".into());
    }
    if std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true")) {
        return Some("OTEL_SDK_DISABLED=true".into());
    }
    if std::env::var("OTEL_TRACES_EXPORTER").is_ok_and(|v| v.trim() == "none") {
        return Some("OTEL_TRACES_EXPORTER=none".into());
    }
    for var in [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ] {
        if let Ok(p) = std::env::var(var)
            && !p.trim().is_empty()
            && p.trim() != "http/protobuf"
        {
            return Some(format!(
                "{var}={p} is not supported (only http/protobuf); traces are not exported"
            ));
        }
    }
    None
}

fn tracer_provider() -> Result<SdkTracerProvider, String> {
    // https:// collectors: the same crypto provider as everything else.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|e| format!("OTLP exporter: {e}"))?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    if !env_set("OTEL_SERVICE_NAME") {
        resource = resource.with_service_name(SERVICE_NAME);
    }
    let resource = resource
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_resource(resource)
        .with_span_processor(BatchSpanProcessor::builder(exporter).build())
        .build())
}

/// Installs the global subscriber: logs filtered by `level` (a tracing
/// filter such as `info` or `ado_temporal_bridge=debug,info`) and, when
/// configured by the environment, OTLP trace export.
pub fn init(format: LogFormat, level: &str) -> Telemetry {
    // The exporter's own start-up chatter only when asked for by name.
    let level = if level.contains("opentelemetry") {
        level.to_owned()
    } else {
        format!("{level},opentelemetry=warn")
    };
    let filter = EnvFilter::try_new(&level).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let logs: Box<dyn Layer<Registry> + Send + Sync> = if json {
        let mut layer = json_subscriber::fmt::layer()
            .with_current_span(false)
            .with_span_list(false)
            // Trace and span ids, when traces are exported: from a log
            // line straight to its trace.
            .with_opentelemetry_ids(true)
            .with_writer(std::io::stderr);
        // `span`: the fields of every span the line is in, the innermost
        // winning, so a line under a Temporal call's span still carries its
        // delivery's correlation id.
        layer.inner_layer_mut().with_flattened_span_fields("span");
        layer.with_filter(filter).boxed()
    } else {
        fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed()
    };
    let (provider, problem) = match export_off_reason() {
        Some(reason) => (None, Some(reason).filter(|r| r != "no OTLP endpoint set")),
        None => match tracer_provider() {
            Ok(p) => (Some(p), None),
            Err(e) => (None, Some(e)),
        },
    };
    let traces = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer(SERVICE_NAME))
            .with_filter(EnvFilter::new(TRACE_FILTER))
    });
    // A second init (tests) keeps the first subscriber.
    let installed = tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init()
        .is_ok();
    if let Some(problem) = problem {
        tracing::warn!(%problem, "trace export is off");
    } else if installed && provider.is_some() {
        tracing::info!("exporting traces over OTLP");
    }
    Telemetry {
        provider: provider.filter(|_| installed),
    }
}

/// The W3C context of the current span, when traces are exported and it
/// is valid; what a Temporal request should carry.
pub fn current_trace() -> Option<TraceContext> {
    let cx = tracing::Span::current().context();
    let span = cx.span();
    let sc = span.span_context();
    if !sc.is_valid() {
        return None;
    }
    let tracestate = sc.trace_state().header();
    TraceContext::parse(
        &format!(
            "00-{}-{}-{:02x}",
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags().to_u8()
        ),
        Some(tracestate.as_str()).filter(|s| !s.is_empty()),
    )
}

/// Makes `span` a child of a remote context (an incoming `traceparent`, or
/// the delivery a spooled action came from). Does nothing when traces are
/// not exported.
pub fn set_parent(span: &tracing::Span, trace: &TraceContext) {
    let mut carrier = HashMap::from([("traceparent".to_owned(), trace.traceparent.clone())]);
    if let Some(state) = &trace.tracestate {
        carrier.insert("tracestate".to_owned(), state.clone());
    }
    let cx = TraceContextPropagator::new().extract(&carrier);
    // Fails only for a span that is disabled or already started children.
    let _ = span.set_parent(cx);
}
