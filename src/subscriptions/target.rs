//! Where and how ADO delivers to the bridge for one source: the URL and the
//! consumer inputs every subscription carries.

use serde_json::{Map, Value, json};

use crate::{config::Secret, verify::Scheme};

/// Where and how ADO delivers to the bridge for one source.
#[derive(Debug)]
pub struct Target {
    /// Source name.
    pub source: String,
    /// `<bridge>/webhooks/<source>`.
    pub url: String,
    /// Basic auth user name and its newest active password.
    pub basic: Option<(String, Secret)>,
    /// Header name and its newest active value.
    pub header: Option<(String, Secret)>,
}

impl Target {
    /// The target for `source` behind `bridge_url`. Sources that need a
    /// signature (hmac, Standard Webhooks) cannot be served by ADO directly.
    pub fn new(source: &crate::config::Source, bridge_url: &str) -> Result<Self, String> {
        let url = format!(
            "{}/webhooks/{}",
            bridge_url.trim_end_matches('/'),
            source.name
        );
        let (mut basic, mut header) = (None, None);
        // The newest value is the last one listed: during a rotation the
        // new password is added after the old, and ADO should get the new.
        let newest = |set: &crate::verify::SecretSet| set.values().pop().map(|k| k.secret);
        for scheme in source.verifier.schemes() {
            match scheme {
                Scheme::Basic {
                    username,
                    passwords,
                } => basic = newest(passwords).map(|p| (username.clone(), p)),
                Scheme::Header { name, values } => {
                    header = newest(values).map(|v| (name.clone(), v));
                }
                Scheme::Hmac { .. } | Scheme::StandardWebhooks { .. } => {
                    return Err(format!(
                        "source {:?} requires a signature, which ADO's Web Hooks consumer cannot \
                         send; subscriptions can only be managed for sources with basic and/or \
                         header auth",
                        source.name
                    ));
                }
            }
        }
        Ok(Self {
            source: source.name.clone(),
            url,
            basic,
            header,
        })
    }

    /// The consumer inputs of every subscription, secrets included.
    pub fn consumer_inputs(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("url".into(), json!(self.url));
        if let Some((user, password)) = &self.basic {
            m.insert("basicAuthUsername".into(), json!(user));
            m.insert("basicAuthPassword".into(), json!(password.expose()));
        }
        if let Some((name, value)) = &self.header {
            m.insert(
                "httpHeaders".into(),
                json!(format!("{name}:{}", value.expose())),
            );
        }
        m.insert("resourceDetailsToSend".into(), json!("all"));
        m.insert("messagesToSend".into(), json!("none"));
        m.insert("detailedMessagesToSend".into(), json!("none"));
        m
    }
}
