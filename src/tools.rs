//! Offline tools for rule authors: `check` and `test` (dry run).

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{Map, Value, json};

use crate::{
    ado::{self, Envelope, KNOWN_EVENT_TYPES},
    config::Config,
    correlation,
    mapping::{EventPattern, RuleSet, Variables},
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
