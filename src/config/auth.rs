//! `sources[].auth` and `sources[].allow`: how a source proves itself and
//! what it may trigger.

use std::{path::PathBuf, sync::Arc, time::Duration};

use serde::Deserialize;

use super::{Env, HumanDuration, Secret};
use crate::verify::{Encoding, Scheme, SecretSet, SourceVerifier};

/// `sources[].auth:`: every scheme given must pass.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AuthFile {
    /// HTTP Basic auth, what ADO's Web Hooks consumer sends.
    pub basic: Option<BasicFile>,
    /// A shared-secret header (ADO's `httpHeaders` input sends `Name:value`).
    pub header: Option<HeaderFile>,
    /// HMAC-SHA256 of the raw body (relays that sign).
    pub hmac: Option<HmacFile>,
    /// The Standard Webhooks signature scheme.
    pub standard_webhooks: Option<StandardWebhooksFile>,
}

/// `auth.basic:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BasicFile {
    /// Expected user name.
    pub username: Env<String>,
    /// An active password.
    pub password: Option<Env<Secret>>,
    /// More active passwords (rotation).
    #[serde(default)]
    pub passwords: Vec<Env<Secret>>,
    /// A file with one active password per line (re-read when it changes).
    pub password_file: Option<Env<PathBuf>>,
}

/// `auth.header:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HeaderFile {
    /// Header name, e.g. `X-Bridge-Key`.
    pub name: String,
    /// An active value.
    pub value: Option<Env<Secret>>,
    /// More active values.
    #[serde(default)]
    pub values: Vec<Env<Secret>>,
    /// A file with one active value per line.
    pub value_file: Option<Env<PathBuf>>,
}

/// `auth.hmac:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HmacFile {
    /// Signature header, e.g. `X-Hub-Signature-256`.
    pub header: String,
    /// `hex` (default) or `base64`.
    #[serde(default)]
    pub encoding: Encoding,
    /// Text before the signature, e.g. `sha256=`.
    #[serde(default)]
    pub prefix: String,
    /// An active key.
    pub secret: Option<Env<Secret>>,
    /// More active keys.
    #[serde(default)]
    pub secrets: Vec<Env<Secret>>,
    /// A file with one active key per line.
    pub secret_file: Option<Env<PathBuf>>,
}

/// `auth.standardWebhooks:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StandardWebhooksFile {
    /// An active secret (`whsec_<base64>`).
    pub secret: Option<Env<Secret>>,
    /// More active secrets.
    #[serde(default)]
    pub secrets: Vec<Env<Secret>>,
    /// A file with one active secret per line.
    pub secret_file: Option<Env<PathBuf>>,
    /// Largest accepted clock difference (default 5m).
    pub tolerance: Option<Env<HumanDuration>>,
}

/// `sources[].allow:`: what a source may trigger (all when absent).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AllowFile {
    /// ADO organization (account) ids from `resourceContainers.account.id`.
    #[serde(default)]
    pub organizations: Vec<String>,
    /// Project ids from `resourceContainers.project.id`.
    #[serde(default)]
    pub projects: Vec<String>,
    /// Rule names.
    #[serde(default)]
    pub rules: Vec<String>,
}

/// A source's grant; empty lists mean "any".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allow {
    /// Allowed organization ids (lower-cased).
    pub organizations: Vec<String>,
    /// Allowed project ids (lower-cased).
    pub projects: Vec<String>,
    /// Allowed rule names.
    pub rules: Vec<String>,
}

impl Allow {
    /// Whether `id` is allowed by `list` (empty: anything).
    pub fn permits(list: &[String], id: Option<&str>) -> bool {
        list.is_empty() || id.is_some_and(|id| list.iter().any(|a| a.eq_ignore_ascii_case(id)))
    }

    /// Whether the rule may run for this source.
    pub fn permits_rule(&self, rule: &str) -> bool {
        self.rules.is_empty() || self.rules.iter().any(|r| r == rule)
    }
}

impl From<AllowFile> for Allow {
    fn from(a: AllowFile) -> Self {
        Self {
            organizations: a
                .organizations
                .into_iter()
                .map(|s| s.to_ascii_lowercase())
                .collect(),
            projects: a
                .projects
                .into_iter()
                .map(|s| s.to_ascii_lowercase())
                .collect(),
            rules: a.rules,
        }
    }
}

fn secret_set(
    one: Option<Env<Secret>>,
    more: Vec<Env<Secret>>,
    file: Option<Env<PathBuf>>,
    resolve: &impl Fn(PathBuf) -> PathBuf,
    min_len: usize,
) -> Result<SecretSet, String> {
    let inline: Vec<Secret> = one.into_iter().chain(more).map(|Env(s)| s).collect();
    if let Some(short) = inline.iter().position(|s| s.expose().len() < min_len) {
        return Err(format!(
            "value {short} is shorter than {min_len} characters"
        ));
    }
    let set = SecretSet::new(inline, file.map(|Env(f)| resolve(f)))?;
    if set
        .values()
        .iter()
        .any(|k| k.secret.expose().len() < min_len)
    {
        return Err(format!("a value is shorter than {min_len} characters"));
    }
    Ok(set)
}

fn header_name(name: &str) -> Result<String, String> {
    http::HeaderName::from_bytes(name.as_bytes())
        .map(|n| n.as_str().to_owned())
        .map_err(|_| format!("{name:?} is not a valid header name"))
}

/// Builds a source's verifier; errors name the scheme.
pub fn verifier(
    auth: AuthFile,
    resolve: &impl Fn(PathBuf) -> PathBuf,
) -> Result<Arc<SourceVerifier>, (String, String)> {
    let mut schemes = Vec::new();
    if let Some(b) = auth.basic {
        let Env(username) = b.username;
        if username.is_empty() || username.contains(':') {
            return Err((
                "basic.username".into(),
                "must be non-empty and contain no ':'".into(),
            ));
        }
        let passwords = secret_set(b.password, b.passwords, b.password_file, resolve, 8)
            .map_err(|m| ("basic".to_owned(), m))?;
        schemes.push(Scheme::Basic {
            username,
            passwords,
        });
    }
    if let Some(h) = auth.header {
        let name = header_name(&h.name).map_err(|m| ("header.name".to_owned(), m))?;
        if name == "authorization" {
            return Err((
                "header.name".into(),
                "use `basic` for the Authorization header".into(),
            ));
        }
        let values = secret_set(h.value, h.values, h.value_file, resolve, 16)
            .map_err(|m| ("header".to_owned(), m))?;
        schemes.push(Scheme::Header { name, values });
    }
    if let Some(h) = auth.hmac {
        let header = header_name(&h.header).map_err(|m| ("hmac.header".to_owned(), m))?;
        let secrets = secret_set(h.secret, h.secrets, h.secret_file, resolve, 16)
            .map_err(|m| ("hmac".to_owned(), m))?;
        schemes.push(Scheme::Hmac {
            header,
            encoding: h.encoding,
            prefix: h.prefix,
            secrets,
        });
    }
    if let Some(s) = auth.standard_webhooks {
        let secrets = secret_set(s.secret, s.secrets, s.secret_file, resolve, 16)
            .map_err(|m| ("standardWebhooks".to_owned(), m))?;
        let tolerance = s.tolerance.map_or(Duration::from_secs(300), |Env(t)| t.0);
        schemes.push(Scheme::StandardWebhooks { secrets, tolerance });
    }
    if schemes.is_empty() {
        return Err((
            String::new(),
            "no verification configured (add basic, header, hmac or standardWebhooks)".into(),
        ));
    }
    Ok(Arc::new(SourceVerifier::new(schemes)))
}
