//! The hooks resources ADO returns: subscriptions (and those it lists in a
//! shape this tool cannot read) and their notifications.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// A service-hook subscription as ADO returns it.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// Subscription GUID.
    pub id: String,
    /// `enabled`, `onProbation`, `disabledByUser`, `disabledBySystem`,
    /// `disabledByInactiveIdentity`; absent means enabled.
    #[serde(default)]
    pub status: Option<String>,
    /// `tfs`, `rm`, `pipelines` ...
    pub publisher_id: String,
    /// Event type.
    pub event_type: String,
    /// Resource version (`null` for "latest").
    #[serde(default)]
    pub resource_version: Option<String>,
    /// `webHooks` for this bridge.
    pub consumer_id: String,
    /// Publisher inputs (project, filters; ADO adds `hostId`,
    /// `tfsSubscriptionId`).
    #[serde(default)]
    pub publisher_inputs: BTreeMap<String, Value>,
    /// Consumer inputs (ADO masks confidential ones, `basicAuthPassword`,
    /// as `********`; `httpHeaders` comes back in clear).
    #[serde(default)]
    pub consumer_inputs: BTreeMap<String, Value>,
    /// Failed probation retries so far.
    #[serde(default)]
    pub probation_retries: Option<i64>,
    /// The whole object as returned, for a PUT that changes one field.
    #[serde(skip)]
    pub raw: Value,
}

impl Subscription {
    /// A consumer or publisher input as text (`""` when absent).
    pub fn input(map: &BTreeMap<String, Value>, key: &str) -> String {
        match map.get(key) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        }
    }

    /// The project GUID it belongs to (`""` for collection scope).
    pub fn project_id(&self) -> String {
        Self::input(&self.publisher_inputs, "projectId").to_ascii_lowercase()
    }

    /// The URL it delivers to.
    pub fn url(&self) -> String {
        Self::input(&self.consumer_inputs, "url")
    }

    /// The status, `enabled` when ADO leaves it out.
    pub fn status(&self) -> &str {
        self.status.as_deref().unwrap_or("enabled")
    }
}

/// A subscription ADO listed in a shape this tool cannot read: what could
/// be read of it, and why the rest could not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreadable {
    /// Subscription GUID (`""` when missing).
    pub id: String,
    /// Event type (`""` when unreadable).
    pub event_type: String,
    /// Project GUID, lower case (`""` when unreadable).
    pub project_id: String,
    /// The URL it delivers to (`""` when unreadable).
    pub url: String,
    /// The parse error.
    pub error: String,
}

impl Unreadable {
    pub(super) fn new(raw: &Value, error: &serde_json::Error) -> Self {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
        Self {
            id: text(raw.get("id")),
            event_type: text(raw.get("eventType")),
            project_id: text(raw.pointer("/publisherInputs/projectId")).to_ascii_lowercase(),
            url: text(raw.pointer("/consumerInputs/url")),
            error: error.to_string(),
        }
    }
}

/// The organization's Web Hooks subscriptions.
#[derive(Debug, Default)]
pub struct Listing {
    /// Those read.
    pub subscriptions: Vec<Subscription>,
    /// Those that could not be read.
    pub unreadable: Vec<Unreadable>,
}

/// One notification (delivery attempt record) of a subscription.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// Notification id (the `notificationId` a delivery carries).
    pub id: i64,
    /// The event's id.
    #[serde(default)]
    pub event_id: Option<String>,
    /// `pending`, `succeeded`, `failed`, `filtered`.
    #[serde(default)]
    pub result: Option<String>,
    /// When ADO created it.
    #[serde(default)]
    pub created_date: Option<String>,
    /// Request, response and the event (fuller when read one by one).
    #[serde(default)]
    pub details: Option<NotificationDetails>,
}

/// `Notification.details`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationDetails {
    /// The event as published (the delivery body without `subscriptionId`
    /// and `notificationId`).
    #[serde(default)]
    pub event: Option<Value>,
    /// Why it failed.
    #[serde(default)]
    pub error_message: Option<String>,
    /// Attempts made.
    #[serde(default)]
    pub request_attempts: Option<i64>,
}
