//! `--json` output of `subscriptions`: the same facts as the text, for
//! scripts and monitoring.

use serde_json::{Value, json};

use super::{
    client::Unreadable,
    plan::{Applied, Change, Plan, Target},
    status::{Redelivery, SubscriptionStatus, left_disabled},
};

/// The plan (and, after `apply`, what was done).
pub fn plan(p: &Plan, target: &Target, applied: Option<&Applied>) -> Value {
    let changes: Vec<Value> = p
        .changes
        .iter()
        .map(|c| match c {
            Change::Create(d) => json!({
                "action": "create", "eventType": d.event.event_type, "project": d.project.name,
                "publisherInputs": d.publisher_inputs, "rules": d.rules,
            }),
            Change::Replace { old, new, why } => json!({
                "action": "replace", "id": old.id, "eventType": new.event.event_type,
                "project": new.project.name, "publisherInputs": new.publisher_inputs,
                "rules": new.rules, "differences": why,
            }),
            Change::Delete { old, why } => json!({
                "action": "delete", "id": old.id, "eventType": old.event_type,
                "projectId": old.project_id(), "reason": why,
            }),
        })
        .collect();
    let unchanged: Vec<Value> = p
        .unchanged
        .iter()
        .map(
            |(d, id)| json!({"id": id, "eventType": d.event.event_type, "project": d.project.name}),
        )
        .collect();
    let left_alone: Vec<Value> = p
        .left_alone
        .iter()
        .map(|(s, rules)| {
            json!({"id": s.id, "eventType": s.event_type, "projectId": s.project_id(), "rules": rules})
        })
        .collect();
    let mut out = json!({
        "url": target.url, "warnings": p.warnings, "changes": changes,
        "unchanged": unchanged, "leftAlone": left_alone, "otherProjects": p.other_projects,
    });
    if let Some(a) = applied {
        out["applied"] =
            json!({"created": a.created, "replaced": a.replaced, "deleted": a.deleted});
        if let Some((new, old)) = &a.half_replaced {
            out["applied"]["halfReplaced"] = json!({"created": new, "stillPresent": old});
        }
    }
    out
}

/// Subscriptions, their failed notifications, and what `--enable` and
/// `--redeliver` did (when given).
pub fn status(
    statuses: &[SubscriptionStatus],
    unreadable: &[Unreadable],
    target: &Target,
    enabled: Option<&[String]>,
    include_disabled_by_user: bool,
    redelivered: Option<&[Redelivery]>,
) -> Value {
    let subscriptions: Vec<Value> = statuses
        .iter()
        .map(|s| {
            let sub = &s.subscription;
            let failed: Vec<Value> = s
                .failed
                .iter()
                .map(|n| {
                    let d = n.details.clone().unwrap_or_default();
                    json!({"id": n.id, "eventId": n.event_id, "createdDate": n.created_date,
                           "errorMessage": d.error_message, "requestAttempts": d.request_attempts})
                })
                .collect();
            json!({"id": sub.id, "status": sub.status(), "eventType": sub.event_type,
                   "projectId": sub.project_id(), "probationRetries": sub.probation_retries,
                   "failedNotifications": failed})
        })
        .collect();
    let unreadable: Vec<Value> = unreadable
        .iter()
        .map(|u| json!({"id": u.id, "eventType": u.event_type, "projectId": u.project_id, "error": u.error}))
        .collect();
    let mut out =
        json!({"url": target.url, "subscriptions": subscriptions, "unreadable": unreadable});
    if let Some(ids) = enabled {
        out["enabled"] = json!(ids);
        let left: Vec<Value> = statuses
            .iter()
            .filter_map(|s| {
                let sub = &s.subscription;
                left_disabled(sub.status(), include_disabled_by_user)
                    .map(|why| json!({"id": sub.id, "status": sub.status(), "why": why}))
            })
            .collect();
        out["leftDisabled"] = json!(left);
    }
    if let Some(sent) = redelivered {
        let sent: Vec<Value> = sent
            .iter()
            .map(|r| match &r.answer {
                Ok((status, outcome)) => json!({"subscription": r.subscription,
                    "notification": r.notification, "status": status, "outcome": outcome}),
                Err(e) => json!({"subscription": r.subscription,
                    "notification": r.notification, "error": e}),
            })
            .collect();
        out["redelivered"] = json!(sent);
    }
    out
}
