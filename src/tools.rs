//! Offline tools for rule authors: `check` and `test` (dry run).

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{Map, Value, json};

use crate::{
    ado::{self, Envelope, KNOWN_EVENT_TYPES},
    cli::DeliveriesCommand,
    config::Config,
    correlation,
    mapping::{EventPattern, RuleSet, Variables},
    store::{DeliveryFilter, Store},
};

/// Validates the configuration and rules; returns a summary, with warnings.
pub fn check(config_path: &Path) -> anyhow::Result<String> {
    let config = Config::load(config_path)?;
    let rules = RuleSet::load(&config.mappings)?;
    let mut out = format!(
        "{}: valid: {} source(s), {} rule(s)",
        config_path.display(),
        config.sources.len(),
        rules.rules().len()
    );
    for rule in rules.rules() {
        for pattern in &rule.events {
            let known = match pattern {
                EventPattern::Exact(e) => KNOWN_EVENT_TYPES.contains(&e.as_str()),
                EventPattern::Prefix(p) => {
                    KNOWN_EVENT_TYPES.iter().any(|k| k.starts_with(p.as_str()))
                }
            };
            if !known {
                out.push_str(&format!(
                    "\nwarning: {}: rule {:?}: event type {:?} is not one the bridge normalizes; only `event` will be useful",
                    rule.file.display(),
                    rule.name,
                    pattern.as_written()
                ));
            }
        }
    }
    Ok(out)
}

/// Evaluates the rules against payload files without contacting Temporal.
pub fn dry_run(
    config_path: &Path,
    source: Option<&str>,
    payloads: &[PathBuf],
) -> anyhow::Result<String> {
    let config = Config::load(config_path)?;
    let rules = RuleSet::load(&config.mappings)?;
    let source = match source {
        Some(s) => config
            .source(s)
            .with_context(|| format!("no source named {s:?}"))?
            .name
            .clone(),
        None => config
            .sources
            .first()
            .map(|s| s.name.clone())
            .unwrap_or_default(),
    };
    let mut results = Vec::new();
    for path in payloads {
        let body = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let envelope = Envelope::parse(&body).with_context(|| format!("{}", path.display()))?;
        let view = ado::normalize(&envelope);
        let ado_json = serde_json::to_value(&view)?;
        let correlation_id = correlation::derive(&envelope);
        let headers = Map::new();
        let evaluation = rules.evaluate(&Variables {
            event: &envelope.raw,
            ado: &ado_json,
            headers: &headers,
            source: &source,
            correlation_id: &correlation_id,
        });
        results.push(json!({
            "payload": path.display().to_string(),
            "correlationId": correlation_id,
            "ado": ado_json,
            "rules": evaluation.decisions,
            "actions": evaluation.actions,
        }));
    }
    Ok(serde_json::to_string_pretty(&Value::Array(results))?)
}

/// `deliveries list|show|replay` against the store in the config's `dataDir`.
pub async fn deliveries(config_path: &Path, command: DeliveriesCommand) -> anyhow::Result<String> {
    let config = Config::load(config_path)?;
    let store = Store::open(&config.data_dir).with_context(|| {
        format!(
            "opening the delivery store in {}",
            config.data_dir.display()
        )
    })?;
    match command {
        DeliveriesCommand::List {
            source,
            event_type,
            outcome,
            correlation_id,
            limit,
            json,
        } => {
            let rows = store
                .list(DeliveryFilter {
                    source,
                    event_type,
                    outcome,
                    correlation_id,
                    limit,
                })
                .await?;
            if json {
                return Ok(serde_json::to_string_pretty(&rows)?);
            }
            let mut out = format!(
                "{:>6}  {:<24}  {:<10}  {:<48}  {:<10}  {:>7}  {:>4}  {:>4}  {}",
                "ID",
                "RECEIVED (UTC)",
                "SOURCE",
                "EVENT TYPE",
                "OUTCOME",
                "PENDING",
                "DONE",
                "DEAD",
                "CORRELATION ID"
            );
            for r in rows {
                out.push_str(&format!(
                    "\n{:>6}  {:<24}  {:<10}  {:<48}  {:<10}  {:>7}  {:>4}  {:>4}  {}",
                    r.id,
                    format_ms(r.received_at_ms),
                    r.source,
                    r.event_type,
                    r.outcome,
                    r.pending,
                    r.done,
                    r.dead,
                    r.correlation_id
                ));
            }
            Ok(out)
        }
        DeliveriesCommand::Show { id } => {
            let (rec, actions) = store
                .show(id)
                .await?
                .with_context(|| format!("no delivery {id}"))?;
            let mut detail = crate::store::detail(id, &rec, &actions);
            detail["received"] = Value::String(format_ms(rec.received_at_ms));
            Ok(serde_json::to_string_pretty(&detail)?)
        }
        DeliveriesCommand::Replay { id } => {
            let n = store.replay(id).await?;
            Ok(format!(
                "delivery {id}: {n} dead-lettered action(s) queued again"
            ))
        }
    }
}

fn format_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}
