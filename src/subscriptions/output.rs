//! What `subscriptions` prints, and its progress bar.

use std::{fmt::Write, io::IsTerminal};

use indicatif::{ProgressBar, ProgressStyle};

use super::{
    client::{Subscription, Unreadable},
    plan::{Applied, Change, Desired, Plan, Target},
    status::{Redelivery, SubscriptionStatus, left_disabled},
};

/// A progress bar on stderr when it is a terminal; hidden otherwise (logs,
/// CI, tests).
pub fn progress(len: usize) -> ProgressBar {
    if len < 2 || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} {wide_msg}") {
        bar.set_style(style);
    }
    bar
}

fn filters(d: &Desired) -> String {
    let f: Vec<String> = d
        .publisher_inputs
        .iter()
        .filter(|(k, _)| k.as_str() != "projectId")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if f.is_empty() {
        "no filters".into()
    } else {
        f.join(", ")
    }
}

fn project_of(s: &Subscription) -> String {
    let id = s.project_id();
    if id.is_empty() {
        "(organization)".into()
    } else {
        id
    }
}

/// The plan as text; the last line counts the changes.
pub fn plan(p: &Plan, target: &Target) -> String {
    let mut out = format!("subscriptions delivering to {}\n", target.url);
    for w in &p.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    let (mut create, mut replace, mut delete) = (0, 0, 0);
    for change in &p.changes {
        match change {
            Change::Create(d) => {
                create += 1;
                let _ = writeln!(
                    out,
                    "+ create  {} in {} ({}); rules: {}",
                    d.event.event_type,
                    d.project.name,
                    filters(d),
                    d.rules.join(", ")
                );
            }
            Change::Replace { old, new, why } => {
                replace += 1;
                let _ = writeln!(
                    out,
                    "~ replace {} in {} ({}), id {}:",
                    new.event.event_type,
                    new.project.name,
                    filters(new),
                    old.id
                );
                for w in why {
                    let _ = writeln!(out, "      {w}");
                }
            }
            Change::Delete { old, why } => {
                delete += 1;
                let _ = writeln!(
                    out,
                    "- delete  {} in {}, id {}: {why}",
                    old.event_type,
                    project_of(old),
                    old.id
                );
            }
        }
    }
    for (d, id) in &p.unchanged {
        let _ = writeln!(
            out,
            "= keep    {} in {} ({}), id {id}",
            d.event.event_type,
            d.project.name,
            filters(d)
        );
    }
    for (old, rules) in &p.left_alone {
        let _ = writeln!(
            out,
            "= leave   {} in {}, id {}: rules {} listen to it but derive no subscription \
             (an event type this tool cannot subscribe, or rules outside allow.rules); \
             never deleted",
            old.event_type,
            project_of(old),
            old.id,
            rules.join(", ")
        );
    }
    if p.other_projects > 0 {
        let _ = writeln!(
            out,
            "({} subscription(s) of this URL in other projects are left alone)",
            p.other_projects
        );
    }
    let _ = write!(
        out,
        "plan: {create} to create, {replace} to replace, {delete} to delete, {} unchanged\n\
         note: ADO returns passwords masked; they are not compared \
         (after rotating the password, run `apply --recreate`)",
        p.unchanged.len()
    );
    out
}

/// The result of `apply`.
pub fn applied(a: &Applied) -> String {
    let mut out = format!(
        "applied: {} created, {} replaced, {} deleted",
        a.created, a.replaced, a.deleted
    );
    if let Some((new, old)) = &a.half_replaced {
        let _ = write!(
            out,
            "; created {new} to replace {old}, but {old} could not be deleted and still \
             delivers (the bridge deduplicates what both send; the next `apply` deletes it)"
        );
    }
    out
}

/// The status table and failed notifications.
pub fn status(
    statuses: &[SubscriptionStatus],
    unreadable: &[Unreadable],
    target: &Target,
) -> String {
    let mut out = format!("subscriptions delivering to {}\n", target.url);
    for u in unreadable {
        let _ = writeln!(
            out,
            "warning: subscription {} ({}) delivers to this URL but could not be read: {}",
            u.id, u.event_type, u.error
        );
    }
    if statuses.is_empty() {
        out.push_str("none (run `subscriptions apply`)");
        return out;
    }
    for s in statuses {
        let sub = &s.subscription;
        let retries = sub
            .probation_retries
            .filter(|r| *r > 0)
            .map_or(String::new(), |r| format!(", {r} probation retries"));
        let _ = writeln!(
            out,
            "{}  {}  {} in {}{retries}; {} failed notification(s)",
            sub.id,
            sub.status(),
            sub.event_type,
            project_of(sub),
            s.failed.len()
        );
        for n in &s.failed {
            let details = n.details.clone().unwrap_or_default();
            let _ = writeln!(
                out,
                "    notification {} at {}: {}{}",
                n.id,
                n.created_date.as_deref().unwrap_or("?"),
                details.error_message.as_deref().unwrap_or("failed"),
                details
                    .request_attempts
                    .map_or(String::new(), |a| format!(" ({a} attempts)")),
            );
        }
    }
    let unhealthy = statuses
        .iter()
        .filter(|s| s.subscription.status() != "enabled")
        .count();
    let _ = write!(
        out,
        "{} subscription(s), {unhealthy} not enabled",
        statuses.len()
    );
    out
}

/// The result of `--enable`, then each subscription it left disabled and
/// why.
pub fn enabled(ids: &[String], statuses: &[SubscriptionStatus], include_user: bool) -> String {
    let mut out = if ids.is_empty() {
        "enable: nothing to put back".to_owned()
    } else {
        format!("enabled: {}", ids.join(", "))
    };
    for s in statuses {
        let sub = &s.subscription;
        if let Some(why) = left_disabled(sub.status(), include_user) {
            let _ = write!(out, "\nleft {} {}: {why}", sub.status(), sub.id);
        }
    }
    out
}

/// The result of `--redeliver`.
pub fn redelivered(r: &[Redelivery]) -> String {
    let mut out = String::new();
    for d in r {
        let answer = match &d.answer {
            Ok((status, outcome)) => format!("HTTP {status} {outcome}"),
            Err(e) => format!("not delivered: {e}"),
        };
        let _ = writeln!(
            out,
            "redeliver {}/{}: {answer}",
            d.subscription, d.notification
        );
    }
    let failed = r.iter().filter(|d| !d.ok()).count();
    let _ = write!(
        out,
        "redelivered: {} sent, {failed} failed",
        r.len() - failed
    );
    out
}
