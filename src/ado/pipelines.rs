//! YAML pipelines (`ms.vss-pipelines.*`) and pipeline check approvals
//! (`ms.vss-pipelinechecks-events.*`).

use serde_json::Value;

use super::view::{
    AdoView, Approval, Environment, IdName, Run, Stage, at, id_at, id_name_at, str_at,
};

/// Fills the view for `run-state-changed` and `stage-state-changed`.
pub(crate) fn state_changed(resource: &Value, view: &mut AdoView) {
    pipeline_and_run(resource, view);
    if let Some(stage) = at(resource, &["stage"]) {
        view.stage = Some(Stage {
            name: str_at(stage, &["name"]),
            state: str_at(stage, &["state"]),
            result: str_at(stage, &["result"]),
        });
    }
    if let Some(change) = at(resource, &["repositories", "0", "change"]) {
        view.commit = str_at(change, &["version"]).map(|id| super::view::Commit {
            id,
            message: str_at(change, &["message"]),
            author: str_at(change, &["author", "name"]),
            author_email: str_at(change, &["author", "email"]),
        });
    }
}

/// Fills the view for `approval-pending` and `approval-completed`.
pub(crate) fn check_approval(resource: &Value, view: &mut AdoView) {
    pipeline_and_run(resource, view);
    if let Some(approval) = at(resource, &["approval"]) {
        view.approval = Some(Approval {
            id: id_at(approval, &["id"]),
            status: str_at(approval, &["status"]),
            approval_type: None,
        });
    }
    let stage_name =
        str_at(resource, &["stageName"]).or_else(|| str_at(resource, &["stage", "name"]));
    if stage_name.is_some() {
        view.stage = Some(Stage {
            name: stage_name,
            state: None,
            result: None,
        });
    }
    // The checked resource is the deployment environment when its type says so.
    if let Some(res) = at(resource, &["resource"])
        && str_at(res, &["type"]).is_some_and(|t| t.eq_ignore_ascii_case("environment"))
    {
        view.environment = Some(Environment {
            name: str_at(res, &["name"]),
            id: id_at(res, &["id"]),
            status: None,
        });
    }
    if let Some(project_id) =
        str_at(resource, &["projectId"]).filter(|p| !p.bytes().all(|b| b == b'0' || b == b'-'))
    {
        view.project = Some(IdName {
            id: Value::String(project_id),
            name: view.project.as_ref().and_then(|p| p.name.clone()),
        });
    }
}

fn pipeline_and_run(resource: &Value, view: &mut AdoView) {
    view.pipeline =
        id_name_at(resource, &["pipeline"]).or_else(|| id_name_at(resource, &["run", "pipeline"]));
    if let Some(run) = at(resource, &["run"]) {
        view.run = Some(Run {
            id: id_at(run, &["id"]),
            state: str_at(run, &["state"]),
            result: str_at(run, &["result"]),
        });
    }
}
