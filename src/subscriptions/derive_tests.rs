use std::path::Path;

use super::*;
use crate::mapping::RuleSet;

fn rules(yaml_rules: &str) -> Vec<Rule> {
    let text = format!("version: 1\nrules:\n{yaml_rules}");
    RuleSet::parse_file(Path::new("t.yaml"), &text).expect("valid rules")
}

fn rule(name: &str, events: &str, when: Option<&str>) -> String {
    let when = when.map_or(String::new(), |w| format!("    when: {w:?}\n"));
    format!(
        "  - name: {name}\n    events: [{events}]\n{when}    signal: {{workflowId: w, signalName: s}}\n"
    )
}

fn filters_of(d: &Derivation, event_type: &str) -> Vec<(String, FilterValue)> {
    let needed = d
        .needed
        .iter()
        .find(|n| n.event.event_type == event_type)
        .unwrap_or_else(|| panic!("no subscription for {event_type}: {d:?}"));
    needed
        .filters
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn exact(input: &str, v: &str) -> (String, FilterValue) {
    (input.to_owned(), FilterValue::Exact(v.to_owned()))
}

#[test]
fn the_shipped_rules_need_push_build_and_release_approvals() {
    let set = RuleSet::load(&[Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings")])
        .expect("shipped rules load");
    let d = derive(set.rules());
    let types: Vec<_> = d.needed.iter().map(|n| n.event.event_type).collect();
    assert_eq!(
        types,
        [
            "git.push",
            "build.complete",
            "ms.vss-release.deployment-approval-pending-event",
            "ms.vss-release.deployment-approval-completed-event",
        ]
    );
    // `ado.branch == "main" && !...contains(...)`: no branch filter is
    // derived (ADO's value form is undocumented); the `when` filters.
    assert!(filters_of(&d, "git.push").is_empty());
    assert!(filters_of(&d, "build.complete").is_empty());
    // `matches()` is a function: no filter.
    assert!(filters_of(&d, "ms.vss-release.deployment-approval-pending-event").is_empty());
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
}

#[test]
fn a_conjunction_of_equalities_gives_every_filter_either_side() {
    let r = rules(&rule(
        "a",
        "git.push",
        Some("(ado.repository.name == 'payments' && 'main' == ado.branch) && ado.commit.id != ''"),
    ));
    assert_eq!(
        filters_of(&derive(&r), "git.push"),
        [(
            "repository".into(),
            FilterValue::RepositoryName("payments".into())
        )]
    );
}

#[test]
fn disjunctions_negations_and_functions_give_no_filter() {
    for when in [
        "ado.branch == 'main' || ado.branch == 'dev'",
        "!(ado.branch == 'main')",
        "ado.branch != 'main'",
        "ado.branch.startsWith('main')",
        "ado.branch in ['main']",
        "ado['branch'] == 'main'",
        "has(ado.branch) == true",
        "event.resource.refUpdates[0].name == 'refs/heads/main'",
        "ado.ref == 'refs/tags/v1'",
        "ado.branch == ado.pullRequest.targetBranch",
        "ado.branch == 'a' && ado.ref == 'refs/heads/b'",
    ] {
        let r = rules(&rule("a", "git.push", Some(when)));
        assert!(
            filters_of(&derive(&r), "git.push").is_empty(),
            "`{when}` must not narrow the subscription"
        );
    }
}

#[test]
fn several_rules_keep_only_the_filters_they_all_have() {
    let text = [
        rule(
            "a",
            "git.push",
            Some("ado.branch == 'main' && ado.repository.id == 'r1'"),
        ),
        rule(
            "b",
            "git.push",
            Some("ado.repository.id == 'r1' && ado.branch == 'dev'"),
        ),
    ]
    .concat();
    let d = derive(&rules(&text));
    assert_eq!(filters_of(&d, "git.push"), [exact("repository", "r1")]);
    assert_eq!(d.needed[0].rules, ["a", "b"]);

    // A rule without `when` wants every event of the type.
    let text = [
        rule("a", "git.push", Some("ado.repository.id == 'r1'")),
        rule("b", "git.push", None),
    ]
    .concat();
    assert!(filters_of(&derive(&rules(&text)), "git.push").is_empty());
}

#[test]
fn each_event_family_maps_its_own_fields() {
    let text = [
        rule(
            "pr",
            "git.pullrequest.created",
            Some("ado.pullRequest.targetBranch == 'main' && ado.branch == 'feature'"),
        ),
        rule(
            "build",
            "build.complete",
            Some("ado.build.result == 'failed' && ado.build.definition.name == 'CI'"),
        ),
        rule(
            "build-again",
            "build.complete",
            Some("ado.build.result == 'failed' && ado.build.definition.name == 'CI' && true"),
        ),
        rule(
            "run",
            "ms.vss-pipelines.run-state-changed-event",
            Some("ado.pipeline.id == 12 && ado.run.state == 'completed' && ado.run.result == 'succeeded'"),
        ),
        rule(
            "stage",
            "ms.vss-pipelines.stage-state-changed-event",
            Some("ado.pipeline.id == '12' && ado.run.state == 'completed'"),
        ),
    ]
    .concat();
    let d = derive(&rules(&text));
    // Neither the source nor the target branch becomes a filter.
    assert!(filters_of(&d, "git.pullrequest.created").is_empty());
    assert_eq!(
        filters_of(&d, "build.complete"),
        [
            exact("buildStatus", "Failed"),
            exact("definitionName", "CI")
        ]
    );
    assert_eq!(
        filters_of(&d, "ms.vss-pipelines.run-state-changed-event"),
        [
            exact("pipelineId", "12"),
            exact("runResultId", "Succeeded"),
            exact("runStateId", "Completed"),
        ]
    );
    // A pipeline id compared with a string never matches an event, and the
    // stage event has no run-state input: nothing to derive.
    assert!(filters_of(&d, "ms.vss-pipelines.stage-state-changed-event").is_empty());
}

#[test]
fn an_undocumented_build_result_gives_no_filter() {
    let r = rules(&rule(
        "a",
        "build.complete",
        Some("ado.build.result == 'canceled'"),
    ));
    assert!(filters_of(&derive(&r), "build.complete").is_empty());
}

#[test]
fn prefix_patterns_expand_and_unknown_types_are_reported() {
    let text = [
        rule("rel", "'ms.vss-release.deployment-*'", None),
        rule("wi", "workitem.bogus, 'nothing.*'", None),
    ]
    .concat();
    let d = derive(&rules(&text));
    let types: Vec<_> = d.needed.iter().map(|n| n.event.event_type).collect();
    assert_eq!(
        types,
        [
            "ms.vss-release.deployment-approval-pending-event",
            "ms.vss-release.deployment-approval-completed-event",
            "ms.vss-release.deployment-started-event",
            "ms.vss-release.deployment-completed-event",
        ]
    );
    assert_eq!(d.warnings.len(), 2, "{:?}", d.warnings);
    assert!(d.warnings[0].contains("workitem.bogus"), "{:?}", d.warnings);
    assert!(d.warnings[1].contains("nothing.*"), "{:?}", d.warnings);
}

#[test]
fn no_branch_filter_is_derived_from_any_branch_comparison() {
    for (event, when) in [
        ("git.push", "ado.branch == 'main'"),
        ("git.push", "ado.ref == 'refs/heads/main'"),
        (
            "git.push",
            "ado.repository.id == 'r1' && ado.branch == 'main'",
        ),
        (
            "git.pullrequest.updated",
            "ado.pullRequest.targetBranch == 'main'",
        ),
        ("git.pullrequest.merged", "ado.branch == 'main'"),
    ] {
        let d = derive(&rules(&rule("a", event, Some(when))));
        assert!(
            filters_of(&d, event)
                .iter()
                .all(|(input, _)| input != "branch"),
            "`{when}` on {event} must not derive a branch filter"
        );
    }
}

#[test]
fn a_pipelines_pattern_subscribes_job_state_events_too() {
    let r = rules(&rule(
        "jobs",
        "'ms.vss-pipelines.*'",
        Some("ado.pipeline.id == 12"),
    ));
    let d = derive(&r);
    let types: Vec<_> = d.needed.iter().map(|n| n.event.event_type).collect();
    assert_eq!(
        types,
        [
            "ms.vss-pipelines.run-state-changed-event",
            "ms.vss-pipelines.stage-state-changed-event",
            "ms.vss-pipelines.job-state-changed-event",
        ]
    );
    assert_eq!(
        filters_of(&d, "ms.vss-pipelines.job-state-changed-event"),
        [exact("pipelineId", "12")]
    );
}
