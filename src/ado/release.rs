//! Classic Release (`ms.vss-release.*`): approvals and deployments.

use serde_json::Value;

use super::view::{
    AdoView, Approval, Environment, IdName, actor_at, at, id_at, id_name_at, str_at,
};

/// Fills the view for `deployment-approval-pending|completed`.
pub(crate) fn approval(resource: &Value, view: &mut AdoView) {
    project(resource, view);
    if let Some(approval) = at(resource, &["approval"]) {
        view.approval = Some(Approval {
            id: id_at(approval, &["id"]),
            status: str_at(approval, &["status"]),
            approval_type: str_at(approval, &["approvalType"]),
        });
        view.environment = environment(approval, &["releaseEnvironment"]);
        view.release = id_name_at(approval, &["release"]);
        view.actor =
            actor_at(approval, &["approvedBy"]).or_else(|| actor_at(approval, &["approver"]));
    }
    if view.release.is_none() {
        view.release = release(resource);
    }
}

/// Fills the view for `deployment-started|completed`.
pub(crate) fn deployment(resource: &Value, view: &mut AdoView) {
    project(resource, view);
    view.environment = environment(resource, &["environment"]);
    // The event's top-level `release` is nearly empty; the environment knows
    // which release it deploys.
    view.release = id_name_at(resource, &["environment", "release"]).or_else(|| release(resource));
    view.actor = actor_at(resource, &["deployment", "requestedFor"]);
}

fn environment(v: &Value, path: &[&str]) -> Option<Environment> {
    let env = at(v, path)?;
    Some(Environment {
        name: str_at(env, &["name"]),
        id: id_at(env, &["id"]),
        status: str_at(env, &["status"]),
    })
}

fn release(resource: &Value) -> Option<IdName> {
    id_name_at(resource, &["release"]).filter(|r| r.name.is_some() || r.id.as_i64() != Some(0))
}

fn project(resource: &Value, view: &mut AdoView) {
    // Documented samples carry an all-zero project id here; keep the
    // envelope's project id in that case.
    if let Some(mut p) = id_name_at(resource, &["project"]) {
        if p.id
            .as_str()
            .is_some_and(|id| id.bytes().all(|b| b == b'0' || b == b'-'))
        {
            p.id = view
                .project
                .as_ref()
                .map(|v| v.id.clone())
                .unwrap_or(Value::Null);
        }
        view.project = Some(p);
    }
}
