//! The event types a subscription can be made for, with their publisher,
//! the resource version the bridge normalizes, and the publisher filters a
//! rule's `when` may narrow.

/// How a literal from a `when` comparison becomes a publisher input value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Convert {
    /// The string as written.
    Text,
    /// An integer id, sent as its decimal text.
    Int,
    /// A repository name, resolved to the repository GUID per project.
    RepositoryName,
    /// One of a fixed set of view values, each with the input's spelling.
    OneOf(&'static [(&'static str, &'static str)]),
}

/// An `ado` field whose equality with a literal maps to a publisher input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FieldFilter {
    /// Path below `ado`, e.g. `["repository", "name"]`.
    pub path: &'static [&'static str],
    /// The publisher input it narrows.
    pub input: &'static str,
    /// How the literal becomes the input's value.
    pub convert: Convert,
}

/// A subscribable event type.
#[derive(Debug, PartialEq)]
pub struct EventInfo {
    /// `eventType`.
    pub event_type: &'static str,
    /// `publisherId`.
    pub publisher_id: &'static str,
    /// `resourceVersion` the bridge normalizes.
    pub resource_version: &'static str,
    /// Filters a `when` may derive.
    pub filters: &'static [FieldFilter],
}

const REPOSITORY: [FieldFilter; 2] = [
    FieldFilter {
        path: &["repository", "name"],
        input: "repository",
        convert: Convert::RepositoryName,
    },
    FieldFilter {
        path: &["repository", "id"],
        input: "repository",
        convert: Convert::Text,
    },
];

// No `branch` filter is ever derived: ADO does not document the form of
// its value (`main` or `refs/heads/main`; its own REST example stores
// `master`), and if ADO compares it literally a filter in the wrong form
// drops every event. The rule's `when` still filters on the branch.
const PUSH: &[FieldFilter] = &REPOSITORY;

const PULL_REQUEST: &[FieldFilter] = &REPOSITORY;

// `canceled` is left out: whether ADO's `Stopped` means exactly that is
// not documented, and a wrong filter would lose events.
const BUILD: &[FieldFilter] = &[
    FieldFilter {
        path: &["build", "definition", "name"],
        input: "definitionName",
        convert: Convert::Text,
    },
    FieldFilter {
        path: &["build", "result"],
        input: "buildStatus",
        convert: Convert::OneOf(&[
            ("succeeded", "Succeeded"),
            ("partiallySucceeded", "PartiallySucceeded"),
            ("failed", "Failed"),
        ]),
    },
];

const PIPELINE_ID: FieldFilter = FieldFilter {
    path: &["pipeline", "id"],
    input: "pipelineId",
    convert: Convert::Int,
};

const RUN_STATE: &[FieldFilter] = &[
    PIPELINE_ID,
    FieldFilter {
        path: &["run", "state"],
        input: "runStateId",
        convert: Convert::OneOf(&[
            ("inProgress", "InProgress"),
            ("canceling", "Canceling"),
            ("completed", "Completed"),
        ]),
    },
    FieldFilter {
        path: &["run", "result"],
        input: "runResultId",
        convert: Convert::OneOf(&[
            ("succeeded", "Succeeded"),
            ("failed", "Failed"),
            ("canceled", "Canceled"),
        ]),
    },
];

const fn event(
    event_type: &'static str,
    publisher_id: &'static str,
    resource_version: &'static str,
    filters: &'static [FieldFilter],
) -> EventInfo {
    EventInfo {
        event_type,
        publisher_id,
        resource_version,
        filters,
    }
}

/// Every event type `subscriptions` can subscribe to. Prefix patterns in
/// rules (`ms.vss-release.*`) expand over this list.
pub const EVENTS: &[EventInfo] = &[
    event("git.push", "tfs", "1.0", PUSH),
    event("git.pullrequest.created", "tfs", "1.0", PULL_REQUEST),
    event("git.pullrequest.updated", "tfs", "1.0", PULL_REQUEST),
    event("git.pullrequest.merged", "tfs", "1.0", PULL_REQUEST),
    event("build.complete", "tfs", "2.0", BUILD),
    event("workitem.created", "tfs", "1.0", &[]),
    event("workitem.updated", "tfs", "1.0", &[]),
    event("workitem.deleted", "tfs", "1.0", &[]),
    event("workitem.restored", "tfs", "1.0", &[]),
    event("workitem.commented", "tfs", "1.0", &[]),
    event(
        "ms.vss-release.release-created-event",
        "rm",
        "3.0-preview.1",
        &[],
    ),
    event(
        "ms.vss-release.release-abandoned-event",
        "rm",
        "3.0-preview.1",
        &[],
    ),
    event(
        "ms.vss-release.deployment-approval-pending-event",
        "rm",
        "3.0-preview.1",
        &[],
    ),
    event(
        "ms.vss-release.deployment-approval-completed-event",
        "rm",
        "3.0-preview.1",
        &[],
    ),
    event(
        "ms.vss-release.deployment-started-event",
        "rm",
        "3.0-preview.1",
        &[],
    ),
    event(
        "ms.vss-release.deployment-completed-event",
        "rm",
        "3.0-preview.1",
        &[],
    ),
    event(
        "ms.vss-pipelines.run-state-changed-event",
        "pipelines",
        "5.1-preview.1",
        RUN_STATE,
    ),
    event(
        "ms.vss-pipelines.stage-state-changed-event",
        "pipelines",
        "5.1-preview.1",
        &[PIPELINE_ID],
    ),
    event(
        "ms.vss-pipelines.job-state-changed-event",
        "pipelines",
        "5.1-preview.1",
        &[PIPELINE_ID],
    ),
    event(
        "ms.vss-pipelinechecks-events.approval-pending",
        "pipelines",
        "5.1-preview.1",
        &[],
    ),
    event(
        "ms.vss-pipelinechecks-events.approval-completed",
        "pipelines",
        "5.1-preview.1",
        &[],
    ),
];

/// The entry for `event_type`.
pub fn find(event_type: &str) -> Option<&'static EventInfo> {
    EVENTS.iter().find(|e| e.event_type == event_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_the_bridge_normalizes_can_be_subscribed() {
        for known in crate::ado::KNOWN_EVENT_TYPES {
            assert!(find(known).is_some(), "{known} is missing from EVENTS");
        }
    }

    #[test]
    fn no_event_type_derives_a_branch_filter() {
        for e in EVENTS {
            assert!(
                e.filters.iter().all(|f| f.input != "branch"),
                "{} derives a branch filter",
                e.event_type
            );
        }
    }

    #[test]
    fn job_state_events_which_the_bridge_normalizes_can_be_subscribed() {
        let job = find("ms.vss-pipelines.job-state-changed-event").expect("in EVENTS");
        assert_eq!(
            (job.publisher_id, job.resource_version),
            ("pipelines", "5.1-preview.1")
        );
    }
}
