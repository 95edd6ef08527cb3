//! Static checks and example-based tests for rule files (`check`,
//! `check --run-tests`).
//!
//! A rule file may carry `tests:` (or a sibling `NAME.test.yaml` may hold
//! them): example deliveries with the actions they must produce.

use std::path::{Path, PathBuf};

use cel::IdedExpr;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{
    ado::{self, AdoView, Envelope, KNOWN_EVENT_TYPES},
    correlation,
    mapping::{EventPattern, PlannedAction, RuleSet, Variables, select_path},
};

/// Paths like `commit.message` that exist in the `ado` view.
fn known_ado_paths() -> Value {
    let full = AdoView {
        organization: Some(Default::default()),
        project: Some(Default::default()),
        repository: Some(Default::default()),
        git_ref: Some(String::new()),
        branch: Some(String::new()),
        commit: Some(Default::default()),
        commits: vec![Default::default()],
        build: Some(ado::Build {
            definition: Some(Default::default()),
            ..Default::default()
        }),
        pull_request: Some(Default::default()),
        release: Some(Default::default()),
        environment: Some(Default::default()),
        approval: Some(Default::default()),
        pipeline: Some(Default::default()),
        run: Some(Default::default()),
        stage: Some(Default::default()),
        actor: Some(Default::default()),
        tags: vec![String::new()],
        ..Default::default()
    };
    serde_json::to_value(full).unwrap_or(Value::Null)
}

fn visit(e: &IdedExpr, out: &mut Vec<Vec<String>>) {
    if let Some(("ado", chain)) = select_path(e)
        && !chain.is_empty()
    {
        out.push(chain.into_iter().map(str::to_owned).collect());
        return;
    }
    for child in crate::mapping::expr_children(e) {
        visit(child, out);
    }
}

/// References to `ado.…` fields the normalized view does not have.
pub fn unknown_ado_fields(rules: &RuleSet) -> Vec<String> {
    let known = known_ado_paths();
    let mut problems = Vec::new();
    for rule in rules.rules() {
        for expr in rule.exprs() {
            let mut chains = Vec::new();
            visit(expr.ast(), &mut chains);
            for chain in chains {
                let mut cur = &known;
                for (i, field) in chain.iter().enumerate() {
                    let next = match cur {
                        Value::Object(o) => o.get(field),
                        _ => None,
                    };
                    match next {
                        Some(v) => cur = v,
                        None if matches!(cur, Value::Object(_)) => {
                            let path = chain[..=i].join(".");
                            let options = cur
                                .as_object()
                                .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
                                .unwrap_or_default();
                            problems.push(format!(
                                "{}: rule {:?}: `ado.{path}` does not exist in the ado view (here: {options}) in `{}`",
                                rule.file.display(),
                                rule.name,
                                expr.source
                            ));
                            break;
                        }
                        // Past a scalar or list (e.g. a method call target).
                        None => break,
                    }
                }
            }
        }
    }
    problems
}

/// Warnings for event types the bridge does not normalize, with a guess.
pub fn event_type_warnings(rules: &RuleSet) -> Vec<String> {
    let mut out = Vec::new();
    for rule in rules.rules() {
        for pattern in &rule.events {
            let (known, written) = match pattern {
                EventPattern::Exact(e) => (KNOWN_EVENT_TYPES.contains(&e.as_str()), e.clone()),
                EventPattern::Prefix(p) => (
                    KNOWN_EVENT_TYPES.iter().any(|k| k.starts_with(p.as_str())),
                    p.clone(),
                ),
            };
            if known {
                continue;
            }
            let guess = KNOWN_EVENT_TYPES
                .iter()
                .map(|k| (strsim::levenshtein(k, &written), k))
                .min()
                .filter(|(d, _)| *d <= 6)
                .map(|(_, k)| format!("; did you mean {k:?}?"))
                .unwrap_or_default();
            out.push(format!(
                "{}: rule {:?}: event type {:?} is not one the bridge normalizes (only `event` will be useful){guess}",
                rule.file.display(),
                rule.name,
                pattern.as_written()
            ));
        }
    }
    out
}

/// One example delivery and what it must produce.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuleTest {
    /// What the example shows.
    pub name: String,
    /// The ADO envelope, inline.
    #[serde(default)]
    pub event: Option<Value>,
    /// Or a payload file, relative to the test's file.
    #[serde(default)]
    pub payload: Option<PathBuf>,
    /// Source name rules see (default `test`).
    #[serde(default)]
    pub source: Option<String>,
    /// Request headers rules see.
    #[serde(default)]
    pub headers: Map<String, Value>,
    /// The expected actions, in order; each lists only the fields it checks.
    pub expect: Expectation,
}

/// What a test expects.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Expectation {
    /// Exactly these actions (an empty list: nothing happens).
    pub actions: Vec<Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestsOnly {
    tests: Vec<RuleTest>,
}

#[derive(Debug, Deserialize)]
struct MaybeTests {
    #[serde(default)]
    tests: Vec<RuleTest>,
}

/// Every test found beside or inside the rule files of `paths`.
pub fn collect(paths: &[PathBuf]) -> anyhow::Result<Vec<(PathBuf, RuleTest)>> {
    let mut out = Vec::new();
    for path in paths {
        let files: Vec<PathBuf> = if path.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(path)?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
                .collect();
            v.sort();
            v
        } else {
            vec![path.clone()]
        };
        for f in files {
            let text = std::fs::read_to_string(&f)?;
            let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let tests = if name.ends_with(".test.yaml") || name.ends_with(".test.yml") {
                serde_yaml_ng::from_str::<TestsOnly>(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?
                    .tests
            } else {
                serde_yaml_ng::from_str::<MaybeTests>(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?
                    .tests
            };
            out.extend(tests.into_iter().map(|t| (f.clone(), t)));
        }
    }
    Ok(out)
}

fn subset(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|av| subset(v, av))),
        (e, a) => e == a,
    }
}

/// Runs one test; `Err` says what differed.
pub fn run(rules: &RuleSet, file: &Path, test: &RuleTest) -> Result<(), String> {
    let raw = match (&test.event, &test.payload) {
        (Some(e), None) => e.clone(),
        (None, Some(p)) => {
            let p = file.parent().unwrap_or_else(|| Path::new(".")).join(p);
            let text = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", p.display()))?
        }
        _ => return Err("give exactly one of `event` and `payload`".into()),
    };
    let envelope = Envelope::from_value(raw).map_err(|e| e.to_string())?;
    let view = serde_json::to_value(ado::normalize(&envelope)).map_err(|e| e.to_string())?;
    let evaluation = rules.evaluate(&Variables {
        event: &envelope.raw,
        ado: &view,
        headers: &test.headers,
        source: test.source.as_deref().unwrap_or("test"),
        correlation_id: &correlation::derive(&envelope),
    });
    if let Some(d) = evaluation.decisions.iter().find(|d| d.error.is_some()) {
        return Err(format!(
            "rule {:?} failed: {}",
            d.rule,
            d.error.clone().unwrap_or_default()
        ));
    }
    let actual: Vec<Value> = evaluation
        .actions
        .iter()
        .map(|a: &PlannedAction| {
            let mut v = serde_json::to_value(a).unwrap_or(Value::Null);
            if let Value::Object(o) = &mut v {
                o.insert(
                    "action".into(),
                    o.get("kind").cloned().unwrap_or(Value::Null),
                );
            }
            v
        })
        .collect();
    let why_not = || {
        evaluation
            .decisions
            .iter()
            .filter(|d| !d.matched)
            .map(|d| format!("{}: {}", d.rule, d.reason))
            .collect::<Vec<_>>()
            .join("; ")
    };
    if actual.len() != test.expect.actions.len() {
        return Err(format!(
            "expected {} action(s), got {}: {}; rules not matched: {}",
            test.expect.actions.len(),
            actual.len(),
            serde_json::to_string(&actual).unwrap_or_default(),
            why_not()
        ));
    }
    for (i, (e, a)) in test.expect.actions.iter().zip(&actual).enumerate() {
        if !subset(&Value::Object(e.clone()), a) {
            return Err(format!(
                "action {i}: expected {} but got {}",
                serde_json::to_string(e).unwrap_or_default(),
                serde_json::to_string(a).unwrap_or_default()
            ));
        }
    }
    Ok(())
}
