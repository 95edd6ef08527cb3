//! The workload both benchmarks share: realistic 3-5 KB deliveries built
//! from the project's own fixtures, and generated rule files.

use std::path::Path;

use serde_json::{Value, json};

/// A fixture under `tests/fixtures/ado/`, parsed.
pub fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ado")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("fixture exists");
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// A push of one commit to `branch` with its own event id, notification id
/// and commit (`n` as a 40-hex sha); 4.4 KB of compact JSON, like the
/// single-commit pushes most deliveries are.
pub fn push(template: &Value, n: u64, branch: &str) -> Value {
    let mut p = template.clone();
    let sha = format!("{:040x}", n + 1);
    p["id"] = json!(format!("be0c4a2e-0000-4000-8000-{:012}", n));
    p["notificationId"] = json!(1_000_000 + n);
    if let Some(commits) = p["resource"]["commits"].as_array_mut() {
        commits.truncate(1);
    }
    p["resource"]["refUpdates"][0]["name"] = json!(format!("refs/heads/{branch}"));
    p["resource"]["refUpdates"][0]["newObjectId"] = json!(sha);
    p["resource"]["commits"][0]["commitId"] = json!(sha);
    p
}

/// The push template: the single-commit `git.push.release-branch.json`.
pub fn push_template() -> Value {
    fixture("git.push.release-branch.json")
}

/// A rule file of `n` rules in the shape real rule sets have: most listen
/// to other event types or test another branch, and exactly one (the last)
/// starts a workflow for pushes to `main`, with `workflow_type`, so every
/// matching delivery becomes exactly one workflow.
pub fn rules_yaml(n: usize, workflow_type: &str) -> String {
    let mut out = String::from("version: 1\nrules:\n");
    for i in 0..n.saturating_sub(1) {
        match i % 4 {
            0 => out.push_str(&format!(
                "  - name: release-{i}\n    events: [git.push]\n    when: ado.branch == \"release/{i}\" && !ado.commit.message.contains(\"[skip deploy]\")\n    start:\n      workflowType: Release\n      taskQueue: releases\n      workflowId: release-{i}-${{{{ ado.commit.id }}}}\n"
            )),
            1 => out.push_str(&format!(
                "  - name: build-{i}\n    events: [build.complete]\n    when: ado.build.definition.name == \"def-{i}\"\n    signal:\n      workflowId: build-${{{{ ado.build.id }}}}\n      signalName: buildCompleted\n      input: {{ result: \"${{{{ ado.build.result }}}}\" }}\n"
            )),
            2 => out.push_str(&format!(
                "  - name: approval-{i}\n    events: [\"ms.vss-release.deployment-approval-*\"]\n    when: ado.environment.name.matches(\"(?i)^env-{i}$\")\n    signal:\n      workflowId: release-${{{{ ado.release.id }}}}\n      signalName: approval\n      input: ${{{{ event.resource.approval }}}}\n"
            )),
            _ => out.push_str(&format!(
                "  - name: repo-{i}\n    events: [\"git.*\"]\n    when: ado.repository.name == \"repo-{i}\"\n    start:\n      workflowType: RepoEvent\n      taskQueue: repos\n      workflowId: repo-{i}-${{{{ event.id }}}}\n"
            )),
        }
    }
    out.push_str(&format!(
        "  - name: deploy-main\n    events: [git.push]\n    when: ado.branch == \"main\" && !ado.commit.message.contains(\"[skip deploy]\")\n    start:\n      workflowType: {workflow_type}\n      taskQueue: deployments\n      workflowId: deploy-${{{{ ado.repository.name }}}}-${{{{ ado.commit.id }}}}\n      input:\n        repository: ${{{{ ado.repository.name }}}}\n        commit: ${{{{ ado.commit.id }}}}\n        commits: ${{{{ ado.commits }}}}\n"
    ));
    out
}
