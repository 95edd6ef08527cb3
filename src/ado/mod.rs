//! Understanding ADO deliveries: the envelope, and one module per event
//! family that fills the normalized [`AdoView`].

mod build;
mod envelope;
mod git;
mod pipelines;
mod release;
mod view;

pub use envelope::{Envelope, EnvelopeError};
pub use view::{
    Actor, AdoView, Approval, Build, Commit, Environment, IdName, Organization, PullRequest, Run,
    Stage,
};

use serde_json::Value;

/// Event types the bridge normalizes beyond the envelope. Others are still
/// accepted and routable through the raw `event`.
pub const KNOWN_EVENT_TYPES: &[&str] = &[
    "git.push",
    "git.pullrequest.created",
    "git.pullrequest.updated",
    "git.pullrequest.merged",
    "build.complete",
    "ms.vss-release.deployment-approval-pending-event",
    "ms.vss-release.deployment-approval-completed-event",
    "ms.vss-release.deployment-started-event",
    "ms.vss-release.deployment-completed-event",
    "ms.vss-pipelines.run-state-changed-event",
    "ms.vss-pipelines.stage-state-changed-event",
    "ms.vss-pipelines.job-state-changed-event",
    "ms.vss-pipelinechecks-events.approval-pending",
    "ms.vss-pipelinechecks-events.approval-completed",
];

/// Builds the normalized view of a delivery. Never fails: fields an event
/// lacks stay `null`.
pub fn normalize(envelope: &Envelope) -> AdoView {
    let mut view = AdoView {
        event_type: envelope.event_type.clone(),
        organization: organization(envelope),
        project: envelope.container_id("project").map(|id| IdName {
            id: Value::String(id.to_owned()),
            name: None,
        }),
        ..AdoView::default()
    };
    let resource = envelope.resource();
    match envelope.event_type.as_str() {
        "git.push" => git::push(resource, &mut view),
        t if t.starts_with("git.pullrequest.") => git::pull_request(resource, &mut view),
        "build.complete" => build::complete(resource, &mut view),
        "ms.vss-release.deployment-approval-pending-event"
        | "ms.vss-release.deployment-approval-completed-event" => {
            release::approval(resource, &mut view)
        }
        "ms.vss-release.deployment-started-event" | "ms.vss-release.deployment-completed-event" => {
            release::deployment(resource, &mut view)
        }
        "ms.vss-pipelines.run-state-changed-event"
        | "ms.vss-pipelines.stage-state-changed-event"
        | "ms.vss-pipelines.job-state-changed-event" => {
            pipelines::state_changed(resource, &mut view)
        }
        "ms.vss-pipelinechecks-events.approval-pending"
        | "ms.vss-pipelinechecks-events.approval-completed" => {
            pipelines::check_approval(resource, &mut view)
        }
        _ => {}
    }
    view
}

fn organization(envelope: &Envelope) -> Option<Organization> {
    let id = envelope.container_id("account").map(str::to_owned);
    let url = envelope
        .container_base_url("account")
        .or_else(|| envelope.container_base_url("collection"))
        .map(str::to_owned);
    (id.is_some() || url.is_some()).then_some(Organization { id, url })
}
