//! The Web Hooks envelope every ADO delivery shares.

use std::sync::Arc;

use serde_json::{Map, Value};

/// Why a body is not an ADO envelope.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    /// Not JSON at all (or not UTF-8).
    #[error("body is not valid JSON: {0}")]
    NotJson(String),
    /// JSON, but not an object.
    #[error("body is not a JSON object")]
    NotObject,
    /// A required envelope field is absent or has the wrong type.
    #[error("not an Azure DevOps service-hook envelope: field `{field}` {problem}")]
    BadField {
        /// Field name.
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// A parsed ADO service-hook delivery. The raw JSON stays available as
/// [`Envelope::raw`]; typed accessors cover the envelope fields.
#[derive(Clone, Debug)]
pub struct Envelope {
    /// The whole body as JSON; shared, because rule evaluation runs on its
    /// own thread and a deep copy of a 5 KB document per delivery is not
    /// free.
    pub raw: Arc<Value>,
    /// `id`: the event's unique id (shared by all subscriptions it fans out to).
    pub id: String,
    /// `eventType`, e.g. `git.push`.
    pub event_type: String,
    /// `publisherId`, e.g. `tfs`, `rm`, `pipelines`.
    pub publisher_id: Option<String>,
    /// `resourceVersion`, e.g. `1.0`.
    pub resource_version: Option<String>,
    /// `subscriptionId`, added by the Web Hooks consumer.
    pub subscription_id: Option<String>,
    /// `notificationId`, added by the Web Hooks consumer; same across retries.
    pub notification_id: Option<i64>,
    /// `createdDate`.
    pub created_date: Option<String>,
}

impl Envelope {
    /// Parses and checks a delivery body.
    pub fn parse(body: &[u8]) -> Result<Self, EnvelopeError> {
        let raw: Value =
            serde_json::from_slice(body).map_err(|e| EnvelopeError::NotJson(short(&e)))?;
        Self::from_value(raw)
    }

    /// Checks an already-parsed JSON document.
    pub fn from_value(raw: Value) -> Result<Self, EnvelopeError> {
        let obj = raw.as_object().ok_or(EnvelopeError::NotObject)?;
        let id = required_str(obj, "id")?;
        let event_type = required_str(obj, "eventType")?;
        if !event_type
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
            || event_type.len() > 200
        {
            return Err(EnvelopeError::BadField {
                field: "eventType",
                problem: "has characters an event type never has",
            });
        }
        match obj.get("resource") {
            Some(Value::Object(_)) | Some(Value::Null) => {}
            Some(_) => {
                return Err(EnvelopeError::BadField {
                    field: "resource",
                    problem: "must be an object",
                });
            }
            None => {
                return Err(EnvelopeError::BadField {
                    field: "resource",
                    problem: "is missing",
                });
            }
        }
        let notification_id = match obj.get("notificationId") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.parse().ok(),
            Some(_) => None,
        };
        Ok(Self {
            id,
            event_type,
            publisher_id: opt_str(obj, "publisherId"),
            resource_version: opt_str(obj, "resourceVersion"),
            subscription_id: opt_str(obj, "subscriptionId"),
            notification_id,
            created_date: opt_str(obj, "createdDate"),
            raw: Arc::new(raw),
        })
    }

    /// `resource`, or `Null`.
    pub fn resource(&self) -> &Value {
        self.raw.get("resource").unwrap_or(&Value::Null)
    }

    /// `resourceContainers.{kind}.id`, e.g. kind `project` or `account`.
    pub fn container_id(&self, kind: &str) -> Option<&str> {
        self.raw
            .get("resourceContainers")?
            .get(kind)?
            .get("id")?
            .as_str()
    }

    /// `resourceContainers.{kind}.baseUrl`.
    pub fn container_base_url(&self, kind: &str) -> Option<&str> {
        self.raw
            .get("resourceContainers")?
            .get(kind)?
            .get("baseUrl")?
            .as_str()
    }

    /// The key that identifies this delivery across ADO's retries:
    /// `subscriptionId/notificationId` when the consumer sent them.
    pub fn notification_key(&self) -> Option<String> {
        match (&self.subscription_id, self.notification_id) {
            (Some(s), Some(n)) => Some(format!("{s}/{n}")),
            _ => None,
        }
    }
}

fn required_str(obj: &Map<String, Value>, field: &'static str) -> Result<String, EnvelopeError> {
    match obj.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 200 => Ok(s.clone()),
        Some(Value::String(_)) => Err(EnvelopeError::BadField {
            field,
            problem: "is empty or too long",
        }),
        Some(_) => Err(EnvelopeError::BadField {
            field,
            problem: "must be a string",
        }),
        None => Err(EnvelopeError::BadField {
            field,
            problem: "is missing",
        }),
    }
}

fn opt_str(obj: &Map<String, Value>, field: &str) -> Option<String> {
    obj.get(field).and_then(Value::as_str).map(str::to_owned)
}

fn short(e: &serde_json::Error) -> String {
    let mut s = e.to_string();
    s.truncate(200);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_what_is_not_an_envelope() {
        assert!(matches!(
            Envelope::parse(b"not json"),
            Err(EnvelopeError::NotJson(_))
        ));
        assert!(matches!(
            Envelope::parse(b"{\"id\":"),
            Err(EnvelopeError::NotJson(_))
        ));
        assert!(matches!(
            Envelope::parse(&[0xff, 0xfe]),
            Err(EnvelopeError::NotJson(_))
        ));
        assert_eq!(
            Envelope::parse(b"[1,2]").err(),
            Some(EnvelopeError::NotObject)
        );
        let e = Envelope::parse(br#"{"id":"x","resource":{}}"#).err();
        assert_eq!(
            e,
            Some(EnvelopeError::BadField {
                field: "eventType",
                problem: "is missing"
            })
        );
        let e = Envelope::parse(br#"{"id":"x","eventType":"git.push"}"#).err();
        assert_eq!(
            e,
            Some(EnvelopeError::BadField {
                field: "resource",
                problem: "is missing"
            })
        );
        let e = Envelope::parse(br#"{"id":7,"eventType":"git.push","resource":{}}"#).err();
        assert_eq!(
            e,
            Some(EnvelopeError::BadField {
                field: "id",
                problem: "must be a string"
            })
        );
    }

    #[test]
    fn reads_envelope_fields() {
        let e = Envelope::parse(
            br#"{"id":"e1","eventType":"git.push","publisherId":"tfs","resource":{},
                "subscriptionId":"s1","notificationId":42,
                "resourceContainers":{"project":{"id":"p1"},"account":{"id":"a1","baseUrl":"https://dev.azure.com/contoso/"}}}"#,
        )
        .expect("valid");
        assert_eq!(e.notification_key().as_deref(), Some("s1/42"));
        assert_eq!(e.container_id("project"), Some("p1"));
        assert_eq!(
            e.container_base_url("account"),
            Some("https://dev.azure.com/contoso/")
        );
    }
}
