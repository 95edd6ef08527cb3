//! The normalized `ado` view of every fixture, as reviewed snapshots.

use ado_temporal_bridge::ado::{Envelope, normalize};

use crate::support::fixture_path;

fn view(name: &str) -> serde_json::Value {
    let body = std::fs::read(fixture_path(name)).expect("fixture");
    let env = Envelope::parse(&body).expect("valid envelope");
    serde_json::to_value(normalize(&env)).expect("serializes")
}

macro_rules! snapshot_tests {
    ($($test:ident => $file:literal),* $(,)?) => {$(
        #[test]
        fn $test() {
            insta::assert_json_snapshot!(stringify!($test), view($file));
        }
    )*};
}

snapshot_tests! {
    git_push => "git.push.json",
    git_push_release_branch => "git.push.release-branch.json",
    git_push_tag => "git.push.tag.json",
    git_pullrequest_created => "git.pullrequest.created.json",
    git_pullrequest_updated => "git.pullrequest.updated.json",
    git_pullrequest_merged => "git.pullrequest.merged.json",
    build_complete_v1 => "build.complete.v1.json",
    build_complete_v2 => "build.complete.v2.json",
    release_approval_pending => "ms.vss-release.deployment-approval-pending-event.json",
    release_approval_completed => "ms.vss-release.deployment-approval-completed-event.json",
    release_deployment_started => "ms.vss-release.deployment-started-event.json",
    release_deployment_completed => "ms.vss-release.deployment-completed-event.json",
    pipelines_run_state_changed => "ms.vss-pipelines.run-state-changed-event.json",
    pipelines_stage_state_changed => "ms.vss-pipelines.stage-state-changed-event.json",
    checks_approval_pending => "ms.vss-pipelinechecks-events.approval-pending.json",
    checks_approval_completed => "ms.vss-pipelinechecks-events.approval-completed.json",
    other_event_type => "workitem.updated.json",
}

#[test]
fn the_push_head_commit_is_the_ref_update_target_not_the_first_listed() {
    // Reorder commits so the head is last: the view must still pick it.
    let body = std::fs::read(fixture_path("git.push.json")).expect("fixture");
    let mut v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let commits = v["resource"]["commits"].as_array_mut().expect("commits");
    commits.reverse();
    let env = Envelope::from_value(v).expect("valid");
    let view = normalize(&env);
    let head = view.commit.expect("head commit");
    assert_eq!(head.id, "546c2aad0d0cf7bbabe3f8426df2c9a870c5c912");
    assert!(
        head.message
            .unwrap_or_default()
            .starts_with("Add idempotency key")
    );
    assert_eq!(view.branch.as_deref(), Some("main"));
}
