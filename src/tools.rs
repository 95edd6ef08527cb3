//! Offline tools for rule authors: `check` and `test` (dry run).

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{Map, Value, json};

use crate::{
    ado::{self, Envelope},
    cli::DeliveriesCommand,
    config::Config,
    correlation,
    mapping::{RuleSet, Variables},
    ruletests,
    store::{DeliveryFilter, Store},
};

/// Validates the configuration and rules, and with `run_tests` runs the
/// rule files' example deliveries. Returns the report and whether a test
/// failed; an invalid configuration or rule is an error.
pub fn check(config_path: &Path, run_tests: bool) -> anyhow::Result<(String, bool)> {
    let config = Config::load(config_path)?;
    let rules = RuleSet::load(&config.mappings)?;
    let unknown = ruletests::unknown_ado_fields(&rules);
    if !unknown.is_empty() {
        anyhow::bail!("{}", unknown.join("\n"));
    }
    let mut out = format!(
        "{}: valid: {} source(s), {} rule(s)",
        config_path.display(),
        config.sources.len(),
        rules.rules().len()
    );
    for w in ruletests::event_type_warnings(&rules) {
        out.push_str(&format!("\nwarning: {w}"));
    }
    let mut failed = false;
    if run_tests {
        let tests = ruletests::collect(&config.mappings)?;
        let mut passed = 0;
        for (file, test) in &tests {
            match ruletests::run(&rules, file, test) {
                Ok(()) => {
                    passed += 1;
                    out.push_str(&format!("\nok    {}: {}", file.display(), test.name));
                }
                Err(why) => {
                    failed = true;
                    out.push_str(&format!("\nFAIL  {}: {}: {why}", file.display(), test.name));
                }
            }
        }
        out.push_str(&format!(
            "\nrule tests: {passed} passed, {} failed",
            tests.len() - passed
        ));
    }
    Ok((out, failed))
}

/// Evaluates the rules against payload files without contacting Temporal.
pub fn dry_run(
    config_path: &Path,
    source: Option<&str>,
    payloads: &[PathBuf],
    as_json: bool,
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
    if as_json {
        return Ok(serde_json::to_string_pretty(&Value::Array(results))?);
    }
    Ok(results.iter().map(human).collect::<Vec<_>>().join("\n\n"))
}

/// A dry-run result for a terminal: the view's key facts, each rule's
/// decision, each action.
fn human(r: &Value) -> String {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    let ado = &r["ado"];
    let mut out = format!(
        "{}\n  event      {}  (correlation id {})\n  ado        repository={} ref={} commit={} build={} release={} environment={}",
        text(&r["payload"]),
        text(&ado["eventType"]),
        text(&r["correlationId"]),
        text(&ado["repository"]["name"]),
        text(&ado["ref"]),
        text(&ado["commit"]["id"]),
        text(&ado["build"]["id"]),
        text(&ado["release"]["id"]),
        text(&ado["environment"]["name"]),
    );
    for d in r["rules"].as_array().into_iter().flatten() {
        let mark = if d["matched"] == Value::Bool(true) {
            "MATCH"
        } else {
            "no   "
        };
        out.push_str(&format!(
            "\n  {mark}      {}: {}",
            text(&d["rule"]),
            text(&d["reason"])
        ));
        if let Some(e) = d["error"].as_str() {
            out.push_str(&format!("\n             error: {e}"));
        }
    }
    let actions = r["actions"].as_array().cloned().unwrap_or_default();
    if actions.is_empty() {
        out.push_str("\n  => nothing would be sent to Temporal");
    }
    for a in &actions {
        out.push_str(&format!(
            "\n  => {} {} (rule {}) type={} queue={} signal={}\n     input: {}",
            text(&a["kind"]),
            text(&a["workflowId"]),
            text(&a["rule"]),
            text(&a["workflowType"]),
            text(&a["taskQueue"]),
            text(&a["signalName"]),
            a["input"]
        ));
        if a["memo"].as_object().is_some_and(|m| !m.is_empty()) {
            out.push_str(&format!("\n     memo:  {}", a["memo"]));
        }
    }
    out
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
            reason_code,
            limit,
            json,
        } => {
            let rows = store
                .list(DeliveryFilter {
                    source,
                    event_type,
                    outcome,
                    correlation_id,
                    reason_code,
                    limit,
                })
                .await?;
            if json {
                return Ok(serde_json::to_string_pretty(&rows)?);
            }
            let mut out = format!(
                "{:>6}  {:<24}  {:<10}  {:<48}  {:>6}  {:<19}  {:>7}  {:>4}  {:>4}  {}",
                "ID",
                "RECEIVED (UTC)",
                "SOURCE",
                "EVENT TYPE",
                "STATUS",
                "REASON",
                "PENDING",
                "DONE",
                "DEAD",
                "CORRELATION ID"
            );
            for r in rows {
                out.push_str(&format!(
                    "\n{:>6}  {:<24}  {:<10}  {:<48}  {:>6}  {:<19}  {:>7}  {:>4}  {:>4}  {}",
                    r.id,
                    format_ms(r.received_at_ms),
                    r.source,
                    r.event_type,
                    r.status,
                    r.reason_code,
                    r.pending,
                    r.done,
                    r.dead,
                    r.correlation_id
                ));
            }
            Ok(out)
        }
        DeliveriesCommand::Show { id, json } => {
            let (rec, actions) = store
                .show(id)
                .await?
                .with_context(|| format!("no delivery {id}"))?;
            let ui = &config.temporal;
            let mut detail = crate::store::detail(id, &rec, &actions, |row| {
                let base = ui.ui_url.as_deref()?;
                Some(crate::temporal::web_ui_link(
                    base,
                    &ui.namespace,
                    &row.workflow_id,
                    row.run_id.as_deref(),
                ))
            });
            detail["received"] = Value::String(format_ms(rec.received_at_ms));
            if json {
                return Ok(serde_json::to_string_pretty(&detail)?);
            }
            Ok(explain(&detail))
        }
        DeliveriesCommand::Replay { id } => {
            let n = store.replay(id).await?;
            Ok(format!(
                "delivery {id}: {n} dead-lettered action(s) queued again"
            ))
        }
    }
}

/// A delivery from the log, for people: what was answered, why, every
/// rule's decision and every action's state.
fn explain(d: &Value) -> String {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let r = &d["response"];
    let mut out = format!(
        "delivery {}: {} (answered HTTP {} {})",
        d["id"],
        text(&d["reasonCode"]),
        d["status"],
        text(&d["outcome"])
    );
    for (name, value) in [
        ("received", &d["received"]),
        ("source", &d["source"]),
        ("event type", &d["eventType"]),
        ("event id", &d["eventId"]),
        ("correlation", &d["correlationId"]),
        ("trace id", &r["traceId"]),
        ("why", &r["reason"]),
        ("duplicate of", &r["duplicateOf"]),
    ] {
        let value = text(value);
        if !value.is_empty() {
            out.push_str(&format!("\n  {name:<13}{value}"));
        }
    }
    let rules = r["rules"].as_array().cloned().unwrap_or_default();
    if !rules.is_empty() {
        out.push_str("\nrules:");
        for rule in &rules {
            let mark = if rule["matched"] == true { "+" } else { "-" };
            out.push_str(&format!(
                "\n  {mark} {}: {}",
                text(&rule["rule"]),
                text(&rule["reason"])
            ));
            if let Some(e) = rule["error"].as_str() {
                out.push_str(&format!("\n      error: {e}"));
            }
        }
    }
    let spooled = d["actions"].as_array().filter(|a| !a.is_empty());
    let actions = spooled
        .or_else(|| r["actions"].as_array())
        .cloned()
        .unwrap_or_default();
    if !actions.is_empty() {
        out.push_str("\nactions:");
    }
    for a in &actions {
        let state = match a["state"].as_str() {
            Some(s) => format!("{s} after {} attempt(s)", a["attempts"]),
            None => text(&a["status"]),
        };
        // Spooled rows say `kind`; answers say `action`.
        let kind = a["kind"].as_str().or(a["action"].as_str()).unwrap_or("?");
        out.push_str(&format!(
            "\n  {kind} {} ({}): {}",
            text(&a["workflowId"]),
            text(&a["rule"]),
            state
        ));
        for (name, key) in [
            ("result", "result"),
            ("run id", "runId"),
            ("last error", "lastError"),
            ("error", "error"),
            ("temporal", "link"),
        ] {
            let value = text(&a[key]);
            if !value.is_empty() {
                out.push_str(&format!("\n      {name}: {value}"));
            }
        }
    }
    out
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
