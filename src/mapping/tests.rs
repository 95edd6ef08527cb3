use super::*;
use crate::ado::{Envelope, normalize};
use serde_json::json;

/// The body of an ADO fixture delivery (`tests/fixtures/ado`).
pub(crate) fn fixture_body(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ado")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fixture(name: &str) -> Envelope {
    Envelope::parse(&fixture_body(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Rules from YAML text, compiled.
pub(crate) fn rule_set(text: &str) -> RuleSet {
    RuleSet::from_rules(parse(text).expect("rules compile"))
}

/// The decision about `rule`.
fn decision<'e>(eval: &'e Evaluation, rule: &str) -> &'e RuleDecision {
    eval.decisions
        .iter()
        .find(|d| &*d.rule == rule)
        .unwrap_or_else(|| panic!("no decision about {rule}"))
}

fn shipped() -> RuleSet {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
    RuleSet::load(&[dir]).expect("shipped mappings load")
}

/// Calls `f` with the variables rules see for `env`, as the pipeline
/// builds them (the `ado` view included).
fn with_vars<R>(env: &Envelope, f: impl FnOnce(&Variables<'_>) -> R) -> R {
    let ado = serde_json::to_value(normalize(env)).expect("view serializes");
    let headers = Map::new();
    f(&Variables {
        event: &env.raw,
        ado: &ado,
        headers: &headers,
        source: "fabrikam",
        correlation_id: "corr-1",
    })
}

fn evaluate(rules: &RuleSet, env: &Envelope) -> Evaluation {
    with_vars(env, |vars| rules.evaluate(vars))
}

#[test]
fn push_to_main_starts_a_deployment() {
    let eval = evaluate(&shipped(), &fixture("git.push.json"));
    assert_eq!(eval.actions.len(), 1, "{:#?}", eval.decisions);
    let a = &eval.actions[0];
    assert_eq!(a.kind, ActionKind::Start);
    assert_eq!(a.rule, "deploy-main");
    assert_eq!(
        a.workflow_id,
        "deploy-payments-api-546c2aad0d0cf7bbabe3f8426df2c9a870c5c912"
    );
    assert_eq!(a.workflow_type.as_deref(), Some("DeployService"));
    assert_eq!(a.task_queue.as_deref(), Some("deployments"));
    let input = a.input.as_ref().expect("input");
    assert_eq!(input["repository"], json!("payments-api"));
    assert_eq!(
        input["commit"],
        json!("546c2aad0d0cf7bbabe3f8426df2c9a870c5c912")
    );
    assert_eq!(
        input["commits"].as_array().map(Vec::len),
        Some(3),
        "a whole expression keeps its list type"
    );
    assert_eq!(a.on_conflict, OnConflict::UseExisting);
}

#[test]
fn skip_deploy_and_other_branches_are_ignored_with_reasons() {
    let rules = shipped();
    for name in ["git.push.skip-deploy.json", "git.push.release-branch.json"] {
        let eval = evaluate(&rules, &fixture(name));
        assert!(eval.actions.is_empty(), "{name}");
        let d = decision(&eval, "deploy-main");
        assert!(!d.matched);
        assert!(
            d.reason
                .starts_with("`when` is false: ado.branch == \"main\""),
            "{name}: {}",
            d.reason
        );
        let other = decision(&eval, "build-finished");
        assert_eq!(
            &*other.reason,
            "event type git.push is not in events [\"build.complete\"]"
        );
    }
}

#[test]
fn build_completion_is_a_signal_with_start() {
    for (name, result, branch) in [
        ("build.complete.v2.json", "succeeded", "main"),
        ("build.complete.v1.json", "succeeded", "main"),
        ("build.complete.v2-failed.json", "failed", "release/2.1"),
    ] {
        let eval = evaluate(&shipped(), &fixture(name));
        assert_eq!(eval.actions.len(), 1, "{name}: {:#?}", eval.decisions);
        let a = &eval.actions[0];
        assert_eq!(a.kind, ActionKind::SignalWithStart, "{name}");
        assert_eq!(a.signal_name.as_deref(), Some("buildCompleted"));
        assert_eq!(a.workflow_type.as_deref(), Some("BuildFollowUp"));
        assert_eq!(a.task_queue.as_deref(), Some("builds"));
        assert_eq!(
            a.input,
            Some(json!({"result": result, "branch": branch})),
            "{name}"
        );
        assert!(a.workflow_id.starts_with("build-"));
    }
}

#[test]
fn production_approval_signals_the_release_workflow_with_the_raw_approval() {
    let env = fixture("ms.vss-release.deployment-approval-pending-event.json");
    let eval = evaluate(&shipped(), &env);
    assert_eq!(eval.actions.len(), 1, "{:#?}", eval.decisions);
    let a = &eval.actions[0];
    assert_eq!(a.kind, ActionKind::Signal);
    assert_eq!(a.workflow_id, "release-87");
    assert_eq!(a.signal_name.as_deref(), Some("approval"));
    assert_eq!(
        a.input.as_ref(),
        env.raw.pointer("/resource/approval"),
        "object keeps its shape"
    );

    let staging = evaluate(
        &shipped(),
        &fixture("ms.vss-release.deployment-approval-pending-event.staging.json"),
    );
    assert!(staging.actions.is_empty());
}

#[test]
fn unrelated_events_match_nothing() {
    let eval = evaluate(&shipped(), &fixture("workitem.updated.json"));
    assert!(eval.actions.is_empty());
    assert_eq!(eval.decisions.len(), 3);
    assert!(
        eval.decisions
            .iter()
            .all(|d| !d.matched && d.error.is_none())
    );
    assert!(eval.decisions[0].reason.contains("workitem.updated"));
}

fn parse(text: &str) -> Result<Vec<Rule>, RuleError> {
    RuleSet::parse_file(Path::new("rules.yaml"), text)
}

#[test]
fn unknown_fields_are_errors_with_a_line() {
    let err = parse("version: 1\nrules:\n  - name: a\n    events: [git.push]\n    whenn: true\n    start: {workflowType: T, taskQueue: q, workflowId: w}\n")
        .expect_err("unknown field");
    let msg = err.to_string();
    assert!(msg.contains("whenn") && msg.contains("line 5"), "{msg}");
}

#[test]
fn cel_errors_name_rule_field_and_expression() {
    let err = parse("version: 1\nrules:\n  - name: bad-when\n    events: [git.push]\n    when: ado.branch ==\n    start: {workflowType: T, taskQueue: q, workflowId: w}\n")
        .expect_err("bad CEL");
    let msg = err.to_string();
    assert!(
        msg.contains("bad-when") && msg.contains("when") && msg.contains("ado.branch =="),
        "{msg}"
    );

    let err = parse("version: 1\nrules:\n  - name: typo\n    events: [git.push]\n    when: ado_branch == 'main'\n    start: {workflowType: T, taskQueue: q, workflowId: w}\n")
        .expect_err("unknown variable");
    assert!(err.to_string().contains("ado_branch"), "{err}");

    let ok = parse(
        "version: 1\nrules:\n  - name: macro\n    events: [git.push]\n    when: ado.commits.exists(c, c.message.contains('x'))\n    start: {workflowType: T, taskQueue: q, workflowId: w}\n",
    );
    assert!(
        ok.is_ok(),
        "comprehension variables are allowed: {:?}",
        ok.err()
    );
}

#[test]
fn rule_shape_errors() {
    let both = "version: 1\nrules:\n  - name: a\n    events: [x]\n    start: {workflowType: T, taskQueue: q, workflowId: w}\n    signal: {workflowId: w, signalName: s}\n";
    assert!(
        parse(both)
            .expect_err("both")
            .to_string()
            .contains("not both")
    );
    let neither = "version: 1\nrules:\n  - name: a\n    events: [x]\n";
    assert!(parse(neither).is_err());
    let memo_on_signal = "version: 1\nrules:\n  - name: a\n    events: [x]\n    signal: {workflowId: w, signalName: s, memo: {a: 1}}\n";
    assert!(
        parse(memo_on_signal)
            .expect_err("memo")
            .to_string()
            .contains("startIfMissing")
    );
    let star = "version: 1\nrules:\n  - name: a\n    events: ['git.*.push']\n    signal: {workflowId: w, signalName: s}\n";
    assert!(parse(star).is_err());
    let version = "version: 2\nrules: []\n";
    assert!(
        parse(version)
            .expect_err("version")
            .to_string()
            .contains("version 2")
    );
}

#[test]
fn duplicate_rule_names_across_files_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rule = "version: 1\nrules:\n  - name: same\n    events: [x]\n    signal: {workflowId: w, signalName: s}\n";
    std::fs::write(dir.path().join("a.yaml"), rule).expect("write");
    std::fs::write(dir.path().join("b.yaml"), rule).expect("write");
    std::fs::write(dir.path().join("b.test.yaml"), "not: rules").expect("write");
    let err = RuleSet::load(&[dir.path().to_owned()]).expect_err("duplicate");
    assert!(
        err.to_string().contains("b.yaml") && err.to_string().contains("same"),
        "{err}"
    );
}

#[test]
fn several_rules_may_match_one_delivery_and_errors_are_reported() {
    let rules = rule_set(concat!(
        "version: 1\nrules:\n",
        "  - name: one\n    events: ['git.*']\n    signal: {workflowId: 'a-${{ ado.repository.name }}', signalName: s}\n",
        "  - name: two\n    events: [git.push]\n    when: ado.branch.startsWith('ma')\n    start: {workflowType: T, taskQueue: q, workflowId: 'b-${{ source }}', onConflict: terminate-existing, executionTimeout: 2h, memo: {team: payments}, searchAttributes: {Repo: '${{ ado.repository.name }}'}}\n",
        "  - name: broken\n    events: [git.push]\n    when: ado.build.id > 3\n    signal: {workflowId: w, signalName: s}\n",
        "  - name: null-id\n    events: [git.push]\n    signal: {workflowId: 'x-${{ ado.release.id }}', signalName: s}\n",
    ));
    let eval = evaluate(&rules, &fixture("git.push.json"));
    let names: Vec<_> = eval.actions.iter().map(|a| a.rule.as_str()).collect();
    assert_eq!(names, ["one", "two"]);
    let two = &eval.actions[1];
    assert_eq!(two.workflow_id, "b-fabrikam");
    assert_eq!(two.on_conflict, OnConflict::TerminateExisting);
    assert_eq!(two.execution_timeout, Some(Duration::from_secs(7200)));
    assert_eq!(two.memo.get("team"), Some(&json!("payments")));
    assert_eq!(
        two.search_attributes.get("Repo"),
        Some(&json!("payments-api"))
    );
    let broken = decision(&eval, "broken");
    assert!(!broken.matched && broken.error.is_some(), "{broken:?}");
    let null_id = decision(&eval, "null-id");
    assert!(
        null_id
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("null"),
        "{null_id:?}"
    );
    assert!(eval.has_errors());
}

#[test]
fn only_rules_with_comprehensions_iterate() {
    let rules = rule_set(
        "version: 1
rules:
  - name: plain
    events: [git.push]
    when: ado.branch == 'main' && event.resource.commits.size() > 0
    start: {workflowType: W, taskQueue: q, workflowId: 'w-${{ ado.commit.id }}'}
  - name: in-when
    events: [build.complete]
    when: event.resource.commits.exists(c, c.comment.contains('x'))
    signal: {workflowId: w, signalName: s}
  - name: in-template
    events: ['ms.vss-release.*']
    signal:
      workflowId: w
      signalName: s
      input: '${{ event.resource.commits.map(c, c.commitId) }}'
",
    );
    let iterates: Vec<_> = rules.rules().iter().map(|r| r.needs.iterates).collect();
    assert_eq!(iterates, [false, true, true]);
    assert!(!rules.needs("git.push").iterates, "only `plain` listens");
    assert!(rules.needs("build.complete").iterates);
    assert!(
        rules
            .needs("ms.vss-release.deployment-approval-pending-event")
            .iterates
    );
    assert!(
        !rules.needs("git.pullrequest.created").iterates,
        "nobody listens"
    );
}

#[test]
fn a_delivery_converts_only_the_fields_its_rules_read() {
    let rules = rule_set(
        "version: 1
rules:
  - name: deploy
    events: [git.push]
    when: ado.branch == 'main' && has(ado.commit.message)
    start: {workflowType: W, taskQueue: q, workflowId: 'd-${{ ado.repository.name }}-${{ event.id }}'}
  - name: whole
    events: [build.complete]
    when: size(ado) > 0 && event.resource.id > 0
    signal: {workflowId: w, signalName: s}
  - name: indexed
    events: [git.pullrequest.created]
    when: ado['branch'] != '' && event['id'] != ''
    signal: {workflowId: w, signalName: s}
  - name: shadowed
    events: [git.pullrequest.merged]
    when: ado.commits.exists(ado, ado.id != '') || ado.nope == 1
    signal: {workflowId: w, signalName: s}
",
    );
    let ado = |names: &[&str]| Fields::of(ADO_FIELDS, names.iter().copied());
    let push = rules.needs("git.push");
    assert_eq!(push.ado, ado(&["branch", "commit", "repository"]));
    assert!(push.ado.has(ADO_FIELDS, "repository") && !push.ado.has(ADO_FIELDS, "commits"));
    assert_eq!(push.event, Fields::of(EVENT_FIELDS, ["id"]));
    assert!(!push.event.has(EVENT_FIELDS, "resource") && !push.event.has(EVENT_FIELDS, "x"));
    let build = rules.needs("build.complete");
    assert_eq!(build.event, Fields::of(EVENT_FIELDS, ["resource"]));
    // Read whole or by index: every field.
    assert_eq!(build.ado, Fields::ALL);
    assert_eq!(rules.needs("git.pullrequest.created").ado, Fields::ALL);
    assert_eq!(rules.needs("git.pullrequest.created").event, Fields::ALL);
    // A field the table lacks takes every field (a relay may add one).
    assert_eq!(Fields::of(EVENT_FIELDS, ["fromRelay"]), Fields::ALL);
    assert!(Fields::ALL.has(EVENT_FIELDS, "fromRelay"));
    // Names the view lacks (a loop variable's field, a typo) take every
    // field too: never too few.
    assert_eq!(rules.needs("git.pullrequest.merged").ado, Fields::ALL);
    // The decisions and actions are those of the whole variables.
    for name in [
        "git.push.json",
        "git.push.release-branch.json",
        "build.complete.v2.json",
        "git.pullrequest.created.json",
        "git.pullrequest.merged.json",
    ] {
        let env = fixture(name);
        let needs = rules.needs(&env.event_type);
        let (partial, whole) = with_vars(&env, |vars| {
            let whole = Needs {
                ado: Fields::ALL,
                event: Fields::ALL,
                ..needs
            };
            (
                rules.evaluate_reading(vars, needs),
                rules.evaluate_reading(vars, whole),
            )
        });
        assert_eq!(partial, whole, "{name}");
        assert!(
            partial.decisions.iter().all(|d| d.error.is_none()),
            "{name}: {partial:?}"
        );
    }
    let env = fixture("git.push.json");
    let eval = evaluate(&rules, &env);
    assert_eq!(eval.actions.len(), 1, "{:?}", eval.decisions);
    assert_eq!(
        eval.actions[0].workflow_id,
        format!("d-payments-api-{}", env.id)
    );
}

#[test]
fn the_field_tables_are_the_views_and_the_envelopes() {
    let view = serde_json::to_value(crate::ado::AdoView::default()).expect("view");
    let keys: Vec<&str> = view
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ADO_FIELDS);
    for name in ["git.push.json", "build.complete.v2.json"] {
        let env = fixture(name);
        for key in env.raw.as_object().expect("object").keys() {
            assert!(EVENT_FIELDS.contains(&key.as_str()), "{name}: {key}");
        }
    }
}

#[test]
fn a_delivery_builds_only_the_variables_its_rules_read() {
    let rules = rule_set(
        "version: 1
rules:
  - name: deploy
    events: [git.push]
    when: ado.branch == 'main'
    start: {workflowType: W, taskQueue: q, workflowId: 'w-${{ source }}'}
  - name: builds
    events: [build.complete]
    when: headers['x-test'] == 'yes' && event.resource.commits.exists(c, c.id != '')
    signal: {workflowId: w, signalName: s}
",
    );
    let push = rules.needs("git.push").reads;
    assert_eq!(push, Reads::of(["ado", "source"]));
    assert!(!push.has("event") && !push.has("headers"));
    // `c` is the comprehension's own variable, not one rules get.
    assert_eq!(
        rules.needs("build.complete").reads,
        Reads::of(["headers", "event"])
    );
    assert_eq!(
        rules.needs("git.pullrequest.created").reads,
        Reads::default()
    );
    // What the rule reads is there; the rest was never built.
    let eval = evaluate(&rules, &fixture("git.push.json"));
    assert_eq!(eval.actions.len(), 1, "{:?}", eval.decisions);
    assert_eq!(eval.actions[0].workflow_id, "w-fabrikam");
}

/// The guard of a `when`, as (variable, fields, test).
fn guard_of(when: &str) -> Option<(GuardVar, Vec<String>, GuardTest)> {
    Expr::compile(when)
        .expect("compiles")
        .guard()
        .map(|g| (g.var, g.fields, g.test))
}

#[test]
fn a_guard_is_the_first_operand_comparing_a_field_path_with_text() {
    let g = |var: GuardVar, fields: &[&str], test: GuardTest| {
        Some((var, fields.iter().map(|f| (*f).to_owned()).collect(), test))
    };
    let eq = |t: &str| GuardTest::Equals(t.to_owned());
    assert_eq!(
        guard_of("ado.branch == 'main'"),
        g(GuardVar::Ado, &["branch"], eq("main"))
    );
    assert_eq!(
        guard_of("'main' == ado.branch"),
        g(GuardVar::Ado, &["branch"], eq("main"))
    );
    assert_eq!(
        guard_of("ado.repository.name == 'api' && ado.branch != 'x' && size(ado.commits) > 0"),
        g(GuardVar::Ado, &["repository", "name"], eq("api"))
    );
    assert_eq!(
        guard_of("(event.eventType == 'git.push' && true) && false"),
        g(GuardVar::Event, &["eventType"], eq("git.push"))
    );
    assert_eq!(
        guard_of("ado.branch.startsWith('release/') && true"),
        g(
            GuardVar::Ado,
            &["branch"],
            GuardTest::StartsWith("release/".into())
        )
    );
    assert_eq!(
        guard_of("event.resource.status in ['completed', 'succeeded']"),
        g(
            GuardVar::Event,
            &["resource", "status"],
            GuardTest::In(vec!["completed".into(), "succeeded".into()])
        )
    );
    // Not first, not `&&`, not one of those tests, not text, not a field
    // of ado or event: CEL decides.
    for when in [
        "true && ado.branch == 'main'",
        "ado.branch == 'main' || ado.branch == 'dev'",
        "!(ado.branch == 'main')",
        "ado.branch != 'main'",
        "ado.build.id == 1",
        "ado.branch == ado.ref",
        "ado['branch'] == 'main'",
        "headers.host == 'x'",
        "source == 'fabrikam'",
        "ado.commits.exists(c, c.id == 'x')",
        "has(ado.branch) && ado.branch == 'main'",
        "ado.branch.startsWith(ado.ref)",
        "'release/'.startsWith(ado.branch)",
        "ado.branch.endsWith('main')",
        "ado.branch in ['main', 1]",
        "ado.branch in ado.tags",
        "'main' in ado.tags",
        "'a' == 'a'",
    ] {
        assert_eq!(guard_of(when), None, "{when}");
    }
}

#[test]
fn a_guard_rules_out_only_another_string_at_its_path() {
    let guard = Expr::compile("ado.repository.name == 'api'")
        .expect("compiles")
        .guard()
        .expect("a guard");
    let out = |v: Value| guard.rules_out(&v);
    assert!(out(json!({"repository": {"name": "web"}})));
    assert!(!out(json!({"repository": {"name": "api"}})));
    // Anything but another string is left to CEL (which may fail on it).
    assert!(!out(json!({"repository": {"name": null}})));
    assert!(!out(json!({"repository": {"name": 7}})));
    assert!(!out(json!({"repository": null})));
    assert!(!out(json!({"repository": {}})));
    assert!(!out(json!({})));
    assert!(!out(json!("api")));
    let out = |when: &str, v: &str| {
        Expr::compile(when)
            .expect("compiles")
            .guard()
            .expect("a guard")
            .rules_out(&json!({ "branch": v }))
    };
    assert!(out("ado.branch.startsWith('release/')", "main"));
    assert!(!out("ado.branch.startsWith('release/')", "release/2.1"));
    assert!(out("ado.branch in ['main', 'develop']", "feature/x"));
    assert!(!out("ado.branch in ['main', 'develop']", "develop"));
    assert!(out("ado.branch in []", "main"));
}

#[test]
fn guards_change_no_decision() {
    let mut text = String::from("version: 1\nrules:\n");
    for i in 0..12 {
        text.push_str(&format!(
            "  - name: branch-{i}
    events: ['git.*']
    when: ado.branch == 'release/{i}' && !ado.commit.message.contains('[skip deploy]')
    start: {{workflowType: W, taskQueue: q, workflowId: 'r-{i}-${{{{ ado.commit.id }}}}'}}
  - name: repo-{i}
    events: ['*']
    when: \"'repo-{i}' == ado.repository.name\"
    signal: {{workflowId: 'repo-{i}', signalName: s}}
"
        ));
    }
    text.push_str(
        "  - name: main
    events: ['git.*']
    when: ado.branch == 'main' && !ado.commit.message.contains('[skip deploy]')
    start: {workflowType: W, taskQueue: q, workflowId: 'd-${{ ado.commit.id }}'}
  - name: definition
    events: ['*']
    when: ado.build.definition.name == 'CI' && event.resource.result == 'succeeded'
    signal: {workflowId: 'b-${{ ado.build.id }}', signalName: s}
  - name: first-fails-later
    events: ['*']
    when: event.eventType == 'git.push' && event.resource.nope.deeper == 1
    signal: {workflowId: w, signalName: s}
  - name: environment
    events: ['*']
    when: ado.environment.name == 'production' || ado.branch == 'main'
    signal: {workflowId: w, signalName: s}
  - name: release-prefix
    events: ['*']
    when: ado.branch.startsWith('release/') && size(ado.commits) > 0
    signal: {workflowId: w, signalName: s}
  - name: results
    events: ['*']
    when: event.resource.result in ['succeeded', 'partiallySucceeded'] && ado.build.id > 0
    signal: {workflowId: w, signalName: s}
  - name: stages
    events: ['*']
    when: ado.stage.name in ['Deploy'] && ado.nope == 1
    signal: {workflowId: w, signalName: s}
",
    );
    let guarded = rule_set(&text);
    let unguarded = {
        let mut r = rule_set(&text);
        for rule in &mut r.rules {
            rule.guard = None;
        }
        r
    };
    assert_eq!(
        guarded.rules().iter().filter(|r| r.guard.is_some()).count(),
        30,
        "every rule but `environment` has a guard"
    );
    let mut ruled_out = 0;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ado");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert!(names.len() > 15, "{names:?}");
    for name in names {
        let env = fixture(&name);
        let needs = guarded.needs(&env.event_type);
        let (with, without) = with_vars(&env, |vars| {
            ruled_out += guarded
                .rules()
                .iter()
                .filter(|r| r.listens_to(&env.event_type))
                .filter_map(|r| r.guard.as_ref())
                .filter(|g| g.rules_out_in(vars))
                .count();
            (
                guarded.evaluate_reading(vars, needs),
                unguarded.evaluate_reading(vars, needs),
            )
        });
        assert_eq!(with, without, "{name}");
    }
    assert!(ruled_out > 100, "guards ruled out {ruled_out} decisions");
}

#[test]
fn what_a_known_event_type_needs_is_worked_out_at_load() {
    let rules = rule_set(
        "version: 1
rules:
  - name: any-git
    events: ['git.*']
    when: ado.branch == 'main'
    signal: {workflowId: w, signalName: s}
  - name: builds
    events: [build.complete]
    when: event.resource.result == 'succeeded'
    signal: {workflowId: w, signalName: s}
",
    );
    for t in crate::ado::KNOWN_EVENT_TYPES {
        assert_eq!(rules.known.get(t), Some(&rules.needs_of(t)), "{t}");
    }
    assert_eq!(
        rules.needs("git.push").ado,
        Fields::of(ADO_FIELDS, ["branch"])
    );
    // A type the bridge does not know is worked out when it comes.
    assert!(!rules.known.contains_key("git.tag.created"));
    assert_eq!(
        rules.needs("git.tag.created").ado,
        Fields::of(ADO_FIELDS, ["branch"])
    );
    assert_eq!(rules.needs("workitem.updated"), Needs::default());
}
