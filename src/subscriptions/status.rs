//! `subscriptions status`: this bridge's subscriptions, their state and
//! failed notifications; re-enabling them and redelivering what failed.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::STANDARD};
use indicatif::ProgressBar;
use serde_json::{Map, Value, json};

use super::{
    client::{AdoClient, AdoError, Notification, Subscription, Unreadable},
    plan::Target,
};

/// One subscription and its recent failed notifications.
#[derive(Debug)]
pub struct SubscriptionStatus {
    /// The subscription.
    pub subscription: Subscription,
    /// Most recent failed notifications, oldest first.
    pub failed: Vec<Notification>,
}

/// Every subscription that delivers to `target.url` (in any project),
/// with up to `max` failed notifications each, and those of that URL that
/// could not be read.
pub async fn status(
    client: &AdoClient,
    target: &Target,
    max: usize,
) -> Result<(Vec<SubscriptionStatus>, Vec<Unreadable>), AdoError> {
    let mut out = Vec::new();
    let listing = client.web_hook_subscriptions().await?;
    for subscription in listing.subscriptions {
        if subscription.url() != target.url {
            continue;
        }
        let mut failed = client.failed_notifications(&subscription.id, max).await?;
        failed.sort_by_key(|n| n.id);
        out.push(SubscriptionStatus {
            subscription,
            failed,
        });
    }
    let mut unreadable = listing.unreadable;
    unreadable.retain(|u| u.url == target.url);
    Ok((out, unreadable))
}

/// Whether `--enable` puts a subscription in `status` back: one ADO put on
/// probation or disabled, yes; one an operator disabled only when asked
/// (run on a schedule, it would undo a deliberate disable); one whose
/// owner left never (it needs a new owner).
pub fn should_enable(status: &str, include_disabled_by_user: bool) -> bool {
    match status {
        "onProbation" | "disabledBySystem" => true,
        "disabledByUser" => include_disabled_by_user,
        _ => false,
    }
}

/// Why `--enable` leaves a subscription in `status` as it is (`None` when
/// it is enabled or is put back).
pub fn left_disabled(status: &str, include_disabled_by_user: bool) -> Option<&'static str> {
    if status == "enabled" || should_enable(status, include_disabled_by_user) {
        return None;
    }
    Some(match status {
        "disabledByUser" => "a user disabled it; --include-disabled-by-user re-enables it",
        "disabledByInactiveIdentity" => {
            "its owner left the organization; it needs a new owner: `subscriptions apply \
             --recreate` makes it anew under this identity"
        }
        _ => "a state --enable does not know",
    })
}

/// Puts the subscriptions [`should_enable`] picks back to `enabled`. The
/// PUT carries the subscription as ADO returned it, with the secrets from
/// the source config (a GET returns the password masked, so the PUT sends
/// the real one rather than the mask). Returns the ids enabled.
pub async fn enable(
    client: &AdoClient,
    target: &Target,
    statuses: &[SubscriptionStatus],
    include_disabled_by_user: bool,
    progress: &ProgressBar,
) -> Result<Vec<String>, AdoError> {
    let mut enabled = Vec::new();
    for s in statuses
        .iter()
        .map(|s| &s.subscription)
        .filter(|s| should_enable(s.status(), include_disabled_by_user))
    {
        progress.set_message(format!("enable {}", s.id));
        let mut body = s.raw.clone();
        body["status"] = json!("enabled");
        let mut inputs = body
            .get("consumerInputs")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        inputs.extend(target.consumer_inputs());
        body["consumerInputs"] = Value::Object(inputs);
        client.replace(&s.id, &body).await?;
        enabled.push(s.id.clone());
        progress.inc(1);
    }
    Ok(enabled)
}

/// What the bridge answered to one redelivered notification.
#[derive(Debug)]
pub struct Redelivery {
    /// Subscription id.
    pub subscription: String,
    /// Notification id.
    pub notification: i64,
    /// HTTP status and the answer's `outcome`, or why it was not sent.
    pub answer: Result<(u16, String), String>,
}

impl Redelivery {
    /// Whether the bridge took it (2xx: accepted, queued, ignored or
    /// duplicate).
    pub fn ok(&self) -> bool {
        matches!(self.answer, Ok((status, _)) if (200..300).contains(&status))
    }
}

/// Sends each failed notification's event to the bridge again, the way
/// ADO would: the event with `subscriptionId` and `notificationId`, and the
/// source's credentials. Already-handled ones are answered as duplicates.
pub async fn redeliver(
    client: &AdoClient,
    target: &Target,
    statuses: &[SubscriptionStatus],
    progress: &ProgressBar,
) -> Result<Vec<Redelivery>, AdoError> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| AdoError::Transport {
            call: "HTTP client".into(),
            message: e.to_string(),
        })?;
    let mut out = Vec::new();
    for s in statuses {
        let sub = &s.subscription.id;
        for n in &s.failed {
            progress.set_message(format!("redeliver {sub}/{}", n.id));
            // The list may leave out details; one notification has the event.
            let full = client.notification(sub, n.id).await?;
            let answer = match full.details.and_then(|d| d.event) {
                Some(Value::Object(mut event)) => {
                    as_sent(&mut event, &s.subscription);
                    event.insert("subscriptionId".into(), json!(sub));
                    event.insert("notificationId".into(), json!(n.id));
                    post(&http, target, sub, &Value::Object(event)).await
                }
                _ => Err("ADO returned no event for this notification".into()),
            };
            out.push(Redelivery {
                subscription: sub.clone(),
                notification: n.id,
                answer,
            });
            progress.inc(1);
        }
    }
    Ok(out)
}

/// What ADO's event transformer leaves out of the body it sends: `message`
/// and `detailedMessage` when the subscription's `messagesToSend` /
/// `detailedMessagesToSend` is `none`. An empty input is ADO's default:
/// `all` for a project's subscription, `none` for the organization's.
pub fn as_sent(event: &mut Map<String, Value>, subscription: &Subscription) {
    let collection = subscription.project_id().is_empty();
    for (input, field) in [
        ("messagesToSend", "message"),
        ("detailedMessagesToSend", "detailedMessage"),
    ] {
        let value = Subscription::input(&subscription.consumer_inputs, input);
        let none = if value.is_empty() {
            collection
        } else {
            value.eq_ignore_ascii_case("none")
        };
        if none {
            event.remove(field);
        }
    }
}

async fn post(
    http: &reqwest::Client,
    target: &Target,
    subscription: &str,
    body: &Value,
) -> Result<(u16, String), String> {
    let mut req = http
        .post(&target.url)
        .header("content-type", "application/json; charset=utf-8")
        .header("x-vss-subscriptionid", subscription)
        .body(body.to_string());
    if let Some((user, password)) = &target.basic {
        let pair = format!("{user}:{}", password.expose());
        req = req.header("authorization", format!("Basic {}", STANDARD.encode(pair)));
    }
    if let Some((name, value)) = &target.header {
        req = req.header(name.as_str(), value.expose());
    }
    let resp = req.send().await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let answer: Value = resp.json().await.unwrap_or(Value::Null);
    let outcome = answer
        .get("outcome")
        .and_then(Value::as_str)
        .unwrap_or("(no outcome)")
        .to_owned();
    Ok((status, outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription(project: &str, consumer: Value) -> Subscription {
        serde_json::from_value(
            json!({"id": "s", "publisherId": "tfs", "eventType": "git.push",
            "consumerId": "webHooks", "publisherInputs": {"projectId": project},
            "consumerInputs": consumer}),
        )
        .expect("subscription shape")
    }

    fn event() -> Map<String, Value> {
        let v = json!({"id": "e", "eventType": "git.push", "resource": {},
            "message": {"text": "pushed"}, "detailedMessage": {"text": "pushed 1 commit"}});
        v.as_object().cloned().unwrap_or_default()
    }

    fn kept(s: &Subscription) -> (bool, bool) {
        let mut e = event();
        as_sent(&mut e, s);
        (e.contains_key("message"), e.contains_key("detailedMessage"))
    }

    #[test]
    fn enable_leaves_a_deliberate_disable_unless_asked_and_never_an_ownerless_one() {
        let picked = |include: bool| {
            [
                "enabled",
                "onProbation",
                "disabledBySystem",
                "disabledByUser",
                "disabledByInactiveIdentity",
            ]
            .into_iter()
            .filter(|s| should_enable(s, include))
            .collect::<Vec<_>>()
        };
        assert_eq!(picked(false), ["onProbation", "disabledBySystem"]);
        assert_eq!(
            picked(true),
            ["onProbation", "disabledBySystem", "disabledByUser"]
        );
        assert!(left_disabled("disabledByInactiveIdentity", true).is_some());
        assert_eq!(left_disabled("disabledByUser", true), None);
        assert_eq!(left_disabled("enabled", false), None);
    }

    #[test]
    fn messages_the_subscription_does_not_send_are_left_out_of_a_redelivery() {
        let p = "6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c";
        let none = json!({"messagesToSend": "none", "detailedMessagesToSend": "None"});
        assert_eq!(kept(&subscription(p, none)), (false, false));
        let mixed = json!({"messagesToSend": "text", "detailedMessagesToSend": "none"});
        assert_eq!(kept(&subscription(p, mixed)), (true, false));
        // Empty means ADO's default: all in a project, none for the
        // organization.
        assert_eq!(kept(&subscription(p, json!({}))), (true, true));
        assert_eq!(kept(&subscription("", json!({}))), (false, false));
    }
}
