//! Desired subscriptions against existing ones: what to create, replace and
//! delete, and applying that.
//!
//! ADO returns the confidential `basicAuthPassword` masked (`********`), so
//! it cannot be compared; everything else that the bridge sets is, the
//! `httpHeaders` value included (never printed).
//! A changed subscription is replaced (create the new one, then delete the
//! old one) rather than updated with a PUT: ADO is reported to refuse
//! updates of subscriptions that use basic auth, a PUT would have to send
//! the secret again anyway, and creating first means no event is lost
//! between the two calls (one sent to both is deduplicated by event id).

use std::collections::BTreeMap;

use indicatif::ProgressBar;
use serde_json::{Value, json};

pub use super::target::Target;
use super::{
    client::{AdoClient, AdoError, Subscription, Unreadable},
    derive::{Derivation, FilterValue},
    events::EventInfo,
};
use crate::mapping::EventPattern;

/// Every rule's event patterns with the rule's name: the whole rule set,
/// so that a subscription some rule listens to is never deleted.
pub type Listeners = [(EventPattern, String)];

/// A project, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    /// Lower-case GUID.
    pub id: String,
    /// Name.
    pub name: String,
}

/// One subscription the rules need in one project.
#[derive(Clone, Debug)]
pub struct Desired {
    /// Event type, publisher and resource version.
    pub event: &'static EventInfo,
    /// The project.
    pub project: Project,
    /// Rules that need it.
    pub rules: Vec<String>,
    /// `projectId` and the derived filters.
    pub publisher_inputs: BTreeMap<String, String>,
}

impl Desired {
    /// The POST body.
    pub fn body(&self, target: &Target) -> Value {
        json!({
            "publisherId": self.event.publisher_id,
            "eventType": self.event.event_type,
            "resourceVersion": self.event.resource_version,
            "consumerId": "webHooks",
            "consumerActionId": "httpRequest",
            "publisherInputs": self.publisher_inputs,
            "consumerInputs": target.consumer_inputs(),
        })
    }
}

/// One step towards the desired state.
#[derive(Debug)]
pub enum Change {
    /// A subscription the rules need and ADO lacks.
    Create(Desired),
    /// A subscription that differs (or `--recreate`): create the new one,
    /// then delete the old one.
    Replace {
        /// The existing subscription.
        old: Box<Subscription>,
        /// What it should be.
        new: Desired,
        /// Each difference, e.g. `publisherInputs.branch: "" -> "refs/heads/main"`.
        why: Vec<String>,
    },
    /// A subscription of this bridge's URL that no rule needs.
    Delete {
        /// The existing subscription.
        old: Box<Subscription>,
        /// Why.
        why: String,
    },
}

/// The difference between the rules and ADO.
#[derive(Debug, Default)]
pub struct Plan {
    /// Steps, creates first.
    pub changes: Vec<Change>,
    /// Subscriptions that already match, with their ids.
    pub unchanged: Vec<(Desired, String)>,
    /// Subscriptions of this URL in projects not managed in this run.
    pub other_projects: usize,
    /// Subscriptions of this URL that rules listen to but this tool cannot
    /// make (e.g. `tfvc.checkin`), with those rules: never deleted.
    pub left_alone: Vec<(Subscription, Vec<String>)>,
    /// Things the user should know (unknown event types, repositories).
    pub warnings: Vec<String>,
}

/// The desired subscriptions: every needed event type in every project,
/// with repository names resolved to GUIDs per project.
pub async fn desired(
    client: &AdoClient,
    derivation: &Derivation,
    projects: &[Project],
    warnings: &mut Vec<String>,
) -> Result<Vec<Desired>, AdoError> {
    let mut repos: BTreeMap<(String, String), Option<String>> = BTreeMap::new();
    let mut out = Vec::new();
    for project in projects {
        for needed in &derivation.needed {
            let mut inputs = BTreeMap::from([("projectId".to_owned(), project.id.clone())]);
            for (input, value) in &needed.filters {
                let value = match value {
                    FilterValue::Exact(v) => Some(v.clone()),
                    FilterValue::RepositoryName(name) => {
                        let key = (project.id.clone(), name.clone());
                        if !repos.contains_key(&key) {
                            let id = client.repository_id(&project.id, name).await?;
                            repos.insert(key.clone(), id);
                        }
                        let id = repos.get(&key).cloned().flatten();
                        if id.is_none() {
                            warnings.push(format!(
                                "{}: project {:?} has no repository {name:?}; no repository \
                                 filter there",
                                needed.event.event_type, project.name
                            ));
                        }
                        id
                    }
                };
                if let Some(v) = value {
                    inputs.insert((*input).to_owned(), v);
                }
            }
            out.push(Desired {
                event: needed.event,
                project: project.clone(),
                rules: needed.rules.clone(),
                publisher_inputs: inputs,
            });
        }
    }
    Ok(out)
}

/// Compares `desired` with the `existing` subscriptions of `target.url`
/// in `projects`. With `recreate`, every existing one is replaced (the way
/// to send a rotated password, which cannot be compared). One that no
/// desired subscription takes is deleted only when no rule in `listeners`
/// listens to its event type, or when it duplicates a kept one.
pub fn diff(
    desired: Vec<Desired>,
    existing: Vec<Subscription>,
    target: &Target,
    projects: &[Project],
    listeners: &Listeners,
    recreate: bool,
) -> Plan {
    let mut plan = Plan::default();
    let (mut mine, others): (Vec<_>, Vec<_>) = existing
        .into_iter()
        .filter(|s| s.consumer_id == "webHooks" && s.url() == target.url)
        .partition(|s| projects.iter().any(|p| p.id == s.project_id()));
    plan.other_projects = others.len();
    let mut replaces = Vec::new();
    // (event type, project) of every desired subscription, with the id of
    // the existing one that serves it (if any).
    let mut served: Vec<(&'static str, String, Option<String>)> = Vec::new();
    for want in desired {
        // Prefer one that is already up to date: after a replace whose
        // delete failed, the new subscription is kept and the stale one
        // deleted as its duplicate, not the other way round.
        let serves = |s: &Subscription| {
            s.event_type == want.event.event_type && s.project_id() == want.project.id
        };
        let found = mine
            .iter()
            .position(|s| serves(s) && differences(s, &want, target).is_empty())
            .or_else(|| mine.iter().position(serves));
        let key = (want.event.event_type, want.project.id.clone());
        match found {
            None => {
                served.push((key.0, key.1, None));
                plan.changes.push(Change::Create(want));
            }
            Some(i) => {
                let old = mine.remove(i);
                served.push((key.0, key.1, Some(old.id.clone())));
                let mut why = differences(&old, &want, target);
                if recreate && why.is_empty() {
                    why.push("--recreate (passwords cannot be compared)".into());
                }
                if why.is_empty() {
                    plan.unchanged.push((want, old.id));
                } else {
                    replaces.push(Change::Replace {
                        old: Box::new(old),
                        new: want,
                        why,
                    });
                }
            }
        }
    }
    plan.changes.extend(replaces);
    for old in mine {
        let rules: Vec<String> = listeners
            .iter()
            .filter(|(pattern, _)| pattern.matches(&old.event_type))
            .map(|(_, rule)| rule.clone())
            .collect();
        let twin = served
            .iter()
            .find(|(event, project, _)| *event == old.event_type && *project == old.project_id());
        let why = match twin {
            Some((_, _, Some(id))) => format!("duplicates {id}"),
            Some((_, _, None)) => "duplicates the one created above".to_owned(),
            None if rules.is_empty() => format!("no rule listens to {}", old.event_type),
            None => {
                plan.left_alone.push((old, rules));
                continue;
            }
        };
        plan.changes.push(Change::Delete {
            old: Box::new(old),
            why,
        });
    }
    plan
}

/// Subscriptions of `target.url` that ADO listed but this tool could not
/// read: each is warned about and left alone (it never reaches a delete),
/// and a create for its event type and project is dropped, so no duplicate
/// is made beside it.
pub fn account_for_unreadable(plan: &mut Plan, unreadable: &[Unreadable], target: &Target) {
    for u in unreadable.iter().filter(|u| u.url == target.url) {
        let before = plan.changes.len();
        plan.changes.retain(|c| {
            !matches!(c, Change::Create(d)
                if d.event.event_type == u.event_type && d.project.id == u.project_id)
        });
        let created = if plan.changes.len() < before {
            format!("; no {} subscription is created beside it", u.event_type)
        } else {
            String::new()
        };
        plan.warnings.push(format!(
            "subscription {} ({} in {}) delivers to this URL but could not be read ({}); \
             it is left alone{created}",
            u.id,
            if u.event_type.is_empty() {
                "?"
            } else {
                &u.event_type
            },
            if u.project_id.is_empty() {
                "?"
            } else {
                &u.project_id
            },
            u.error
        ));
    }
}

/// What differs between an existing subscription and the desired one,
/// comparing everything ADO returns.
fn differences(old: &Subscription, new: &Desired, target: &Target) -> Vec<String> {
    let mut why = Vec::new();
    // GUIDs and ADO's enumerations compare without case; names and
    // branches with it.
    let mut check = |field: String, had: &str, want: &str, any_case: bool| {
        let same = if any_case {
            had.eq_ignore_ascii_case(want)
        } else {
            had == want
        };
        if !same {
            why.push(format!("{field}: {had:?} -> {want:?}"));
        }
    };
    check(
        "publisherId".into(),
        &old.publisher_id,
        new.event.publisher_id,
        true,
    );
    check(
        "resourceVersion".into(),
        old.resource_version.as_deref().unwrap_or(""),
        new.event.resource_version,
        true,
    );
    let ignored = ["hostId", "tfsSubscriptionId"];
    let mut keys: Vec<&str> = old
        .publisher_inputs
        .keys()
        .map(String::as_str)
        .filter(|k| !ignored.contains(k))
        .chain(new.publisher_inputs.keys().map(String::as_str))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        let had = Subscription::input(&old.publisher_inputs, key);
        let want = new.publisher_inputs.get(key).map_or("", String::as_str);
        let guid = matches!(key, "projectId" | "repository");
        check(format!("publisherInputs.{key}"), &had, want, guid);
    }
    let consumer = |key: &str| Subscription::input(&old.consumer_inputs, key);
    let user = target.basic.as_ref().map_or("", |(u, _)| u.as_str());
    check(
        "consumerInputs.basicAuthUsername".into(),
        &consumer("basicAuthUsername"),
        user,
        false,
    );
    // An empty value means ADO's default, which is `all` for a project's
    // subscription.
    for (key, want) in [
        ("resourceDetailsToSend", "all"),
        ("messagesToSend", "none"),
        ("detailedMessagesToSend", "none"),
    ] {
        let had = consumer(key);
        let had = if had.is_empty() { "all".into() } else { had };
        check(format!("consumerInputs.{key}"), &had, want, true);
    }
    // ADO returns `httpHeaders` in clear (it is not a confidential input):
    // compare the name, and the value without ever printing it, so that a
    // rotated header secret shows as a change.
    let headers = consumer("httpHeaders");
    let first = headers.lines().next().unwrap_or("");
    let (had_name, had_value) = first.split_once(':').unwrap_or((first, ""));
    let want_name = target.header.as_ref().map_or("", |(n, _)| n.as_str());
    if !headers.is_empty() || want_name.is_empty() {
        let field = "consumerInputs.httpHeaders (name)".to_owned();
        check(field, had_name.trim(), want_name, true);
    }
    if let Some((name, value)) = &target.header
        && had_name.trim().eq_ignore_ascii_case(name)
        && had_value.trim_end() != value.expose()
    {
        why.push(
            "consumerInputs.httpHeaders (value): differs from the source's newest value \
             (not shown)"
                .into(),
        );
    }
    why
}

/// Counts of what `apply` did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Subscriptions created.
    pub created: usize,
    /// Subscriptions replaced.
    pub replaced: usize,
    /// Subscriptions deleted.
    pub deleted: usize,
    /// A replacement that was created while deleting the old one failed:
    /// (new id, old id). Both deliver until the next `apply` deletes the
    /// old one (an event sent by both is deduplicated by the bridge).
    pub half_replaced: Option<(String, String)>,
}

/// Carries out `plan`, in order; stops at the first ADO error (what was
/// done so far stays done, and the next `plan` shows the rest).
pub async fn apply(
    client: &AdoClient,
    plan: &Plan,
    target: &Target,
    progress: &ProgressBar,
) -> Result<Applied, (Applied, AdoError)> {
    let mut done = Applied::default();
    for change in &plan.changes {
        let step = match change {
            Change::Create(want) => {
                progress.set_message(format!("create {}", want.event.event_type));
                client
                    .create(&want.body(target))
                    .await
                    .map(|_| done.created += 1)
            }
            Change::Replace { old, new, .. } => {
                progress.set_message(format!("replace {}", old.id));
                match client.create(&new.body(target)).await {
                    Ok(new_id) => match client.delete(&old.id).await {
                        Ok(()) => {
                            done.replaced += 1;
                            Ok(())
                        }
                        Err(e) => {
                            done.half_replaced = Some((new_id, old.id.clone()));
                            Err(e)
                        }
                    },
                    Err(e) => Err(e),
                }
            }
            Change::Delete { old, .. } => {
                progress.set_message(format!("delete {}", old.id));
                client.delete(&old.id).await.map(|()| done.deleted += 1)
            }
        };
        if let Err(e) = step {
            return Err((done, e));
        }
        progress.inc(1);
    }
    Ok(done)
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
