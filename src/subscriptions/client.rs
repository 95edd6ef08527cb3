//! A small typed client for the few ADO REST endpoints `subscriptions`
//! needs (hooks subscriptions and notifications, projects, repositories),
//! api-version 7.1.

use std::{path::PathBuf, time::Duration};

use base64::{Engine, engine::general_purpose::STANDARD};
use reqwest::Method;
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::Value;

pub use super::resources::{Listing, Notification, NotificationDetails, Subscription, Unreadable};
use crate::config::Secret;

/// The api-version every call sends.
pub const API_VERSION: &str = "7.1";

/// How the client authenticates to ADO.
#[derive(Debug)]
pub enum AdoAuth {
    /// A personal access token (HTTP Basic, empty user name).
    Pat(Secret),
    /// A Microsoft Entra ID access token for Azure DevOps.
    Bearer(Secret),
}

impl AdoAuth {
    /// The first of: `--token-file`, `AZURE_DEVOPS_TOKEN`, `--pat-file`,
    /// `AZURE_DEVOPS_PAT`. Files are trimmed (a trailing newline is common).
    pub fn resolve(
        token_file: Option<&PathBuf>,
        pat_file: Option<&PathBuf>,
        getenv: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let read = |p: &PathBuf| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_owned())
                .map_err(|e| format!("cannot read {}: {e}", p.display()))
        };
        let nonempty = |what: &str, v: String| {
            if v.trim().is_empty() {
                Err(format!("{what} is empty"))
            } else {
                Ok(Secret::new(v.trim()))
            }
        };
        if let Some(p) = token_file {
            return nonempty(&p.display().to_string(), read(p)?).map(Self::Bearer);
        }
        if let Some(t) = getenv("AZURE_DEVOPS_TOKEN") {
            return nonempty("AZURE_DEVOPS_TOKEN", t).map(Self::Bearer);
        }
        if let Some(p) = pat_file {
            return nonempty(&p.display().to_string(), read(p)?).map(Self::Pat);
        }
        if let Some(t) = getenv("AZURE_DEVOPS_PAT") {
            return nonempty("AZURE_DEVOPS_PAT", t).map(Self::Pat);
        }
        Err(
            "no ADO credentials: set AZURE_DEVOPS_PAT (or --pat-file), or an Entra ID token \
             in AZURE_DEVOPS_TOKEN (or --token-file)"
                .into(),
        )
    }

    fn header(&self) -> String {
        match self {
            Self::Pat(pat) => format!("Basic {}", STANDARD.encode(format!(":{}", pat.expose()))),
            Self::Bearer(token) => format!("Bearer {}", token.expose()),
        }
    }
}

/// An ADO REST call failed.
#[derive(Debug, thiserror::Error)]
pub enum AdoError {
    /// 401, 203, or a web page (ADO's sign-in page) where JSON was
    /// expected.
    #[error(
        "{call}: ADO did not accept the credentials ({why}); check the PAT or token, its expiry, \
         its organization and its scopes (service hooks: read & write)"
    )]
    Unauthorized {
        /// Method and path.
        call: String,
        /// What ADO answered.
        why: String,
    },
    /// Any other non-2xx answer; `message` is ADO's own.
    #[error("{call}: ADO answered HTTP {status}: {message}")]
    Status {
        /// Method and path.
        call: String,
        /// HTTP status.
        status: u16,
        /// ADO's `message`, or the start of the body.
        message: String,
    },
    /// The request did not complete.
    #[error("{call}: {message}")]
    Transport {
        /// Method and path.
        call: String,
        /// Cause.
        message: String,
    },
}

const SUBSCRIPTIONS: [&str; 3] = ["_apis", "hooks", "subscriptions"];

#[derive(Deserialize)]
struct ListOf<T> {
    value: Vec<T>,
}

#[derive(Deserialize)]
struct IdName {
    id: String,
    name: String,
}

/// An ADO organization's REST API.
#[derive(Debug)]
pub struct AdoClient {
    http: reqwest::Client,
    org: reqwest::Url,
    auth: AdoAuth,
}

impl AdoClient {
    /// A client for `organization` (`https://dev.azure.com/contoso`).
    pub fn new(organization: &str, auth: AdoAuth) -> Result<Self, String> {
        let org = reqwest::Url::parse(organization)
            .ok()
            .filter(|u| !u.cannot_be_a_base() && matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                format!("--organization {organization:?} is not a URL such as https://dev.azure.com/contoso")
            })?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("ado-temporal-bridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Self { http, org, auth })
    }

    /// `segments` are appended to the organization URL, each encoded.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<T, AdoError> {
        let call = format!("{method} /{}", segments.join("/"));
        let mut url = self.org.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        let mut req = self
            .http
            .request(method, url)
            .query(query)
            .query(&[("api-version", API_VERSION)])
            .header("authorization", self.auth.header())
            .header("accept", "application/json");
        if let Some(b) = body {
            req = req.json(b);
        }
        let transport = |e: reqwest::Error| AdoError::Transport {
            call: call.clone(),
            message: e.to_string(),
        };
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        let html = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/html"));
        let text = resp.text().await.map_err(transport)?;
        if status == 401 || status == 203 {
            // An unknown PAT may get 203 with an HTML sign-in page.
            return Err(AdoError::Unauthorized {
                call,
                why: format!("HTTP {}", status.as_u16()),
            });
        }
        if !status.is_success() {
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| text.chars().take(300).collect());
            return Err(AdoError::Status {
                call,
                status: status.as_u16(),
                message,
            });
        }
        // Credentials ADO does not accept may also get its sign-in page
        // with a 200: a web page where JSON was expected.
        if html || text.trim_start().starts_with('<') {
            return Err(AdoError::Unauthorized {
                call,
                why: format!(
                    "HTTP {} with a web page, likely ADO's sign-in page, instead of JSON",
                    status.as_u16()
                ),
            });
        }
        let text = if text.trim().is_empty() {
            "null"
        } else {
            &text
        };
        serde_json::from_str(text).map_err(|e| AdoError::Status {
            call,
            status: status.as_u16(),
            message: format!("unexpected answer: {e}"),
        })
    }

    /// Every Web Hooks subscription of the organization.
    pub async fn web_hook_subscriptions(&self) -> Result<Listing, AdoError> {
        let query = [
            ("consumerId", "webHooks".to_owned()),
            ("consumerActionId", "httpRequest".to_owned()),
        ];
        let list: ListOf<Value> = self.call(Method::GET, &SUBSCRIPTIONS, &query, None).await?;
        // Parsed one by one so a subscription of another shape cannot
        // break the listing; it is kept as unreadable, never dropped, so
        // that `plan` neither duplicates nor deletes it.
        let mut out = Listing::default();
        for raw in list.value {
            match serde_json::from_value::<Subscription>(raw.clone()) {
                Ok(mut s) => {
                    s.raw = raw;
                    out.subscriptions.push(s);
                }
                Err(e) => out.unreadable.push(Unreadable::new(&raw, &e)),
            }
        }
        Ok(out)
    }

    /// Creates a subscription; returns its id.
    pub async fn create(&self, body: &Value) -> Result<String, AdoError> {
        let created: Value = self
            .call(Method::POST, &SUBSCRIPTIONS, &[], Some(body))
            .await?;
        Ok(created
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned())
    }

    /// Replaces a subscription (PUT).
    pub async fn replace(&self, id: &str, body: &Value) -> Result<(), AdoError> {
        let path = [SUBSCRIPTIONS[0], SUBSCRIPTIONS[1], SUBSCRIPTIONS[2], id];
        let _: Value = self.call(Method::PUT, &path, &[], Some(body)).await?;
        Ok(())
    }

    /// Deletes a subscription.
    pub async fn delete(&self, id: &str) -> Result<(), AdoError> {
        let path = [SUBSCRIPTIONS[0], SUBSCRIPTIONS[1], SUBSCRIPTIONS[2], id];
        let _: Value = self.call(Method::DELETE, &path, &[], None).await?;
        Ok(())
    }

    /// The most recent failed notifications of a subscription.
    pub async fn failed_notifications(
        &self,
        subscription: &str,
        max: usize,
    ) -> Result<Vec<Notification>, AdoError> {
        let path = [
            "_apis",
            "hooks",
            "subscriptions",
            subscription,
            "notifications",
        ];
        let query = [
            ("result", "failed".to_owned()),
            ("maxResults", max.to_string()),
        ];
        let list: ListOf<Notification> = self.call(Method::GET, &path, &query, None).await?;
        Ok(list.value)
    }

    /// One notification with its details (the event).
    pub async fn notification(
        &self,
        subscription: &str,
        id: i64,
    ) -> Result<Notification, AdoError> {
        let id = id.to_string();
        let path = [
            "_apis",
            "hooks",
            "subscriptions",
            subscription,
            "notifications",
            &id,
        ];
        self.call(Method::GET, &path, &[], None).await
    }

    /// A project's GUID and name, by name or GUID.
    pub async fn project(&self, name_or_id: &str) -> Result<(String, String), AdoError> {
        let path = ["_apis", "projects", name_or_id];
        let p: IdName = self.call(Method::GET, &path, &[], None).await?;
        Ok((p.id.to_ascii_lowercase(), p.name))
    }

    /// A repository's GUID by name; `None` when the project has none of
    /// that name.
    pub async fn repository_id(
        &self,
        project_id: &str,
        name: &str,
    ) -> Result<Option<String>, AdoError> {
        let path = [project_id, "_apis", "git", "repositories", name];
        match self.call::<IdName>(Method::GET, &path, &[], None).await {
            Ok(r) => Ok(Some(r.id.to_ascii_lowercase())),
            Err(AdoError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
