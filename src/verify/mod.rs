//! Verifying who sent a delivery. Each source has a [`SourceVerifier`]: the
//! schemes its config asks for, all of which must pass. Every comparison is
//! constant-time; every scheme accepts any of its secret's active values
//! (rotation), and reports which one matched (by key id, never the value).
//!
//! Schemes that only need headers (Basic, shared-secret header) run before
//! the body is read; body signatures (HMAC, Standard Webhooks) run on the
//! raw bytes before they are parsed.

mod schemes;
mod secrets;

use std::time::{Duration, SystemTime};

use http::HeaderMap;

pub use schemes::{Encoding, standard_webhooks_signature};
pub use secrets::{KeyedSecret, SecretSet};

/// Why verification failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A credential or signature the scheme needs is absent.
    #[error("{0} required")]
    Missing(&'static str),
    /// A credential or signature is present but wrong, malformed or expired.
    #[error("invalid {0}")]
    Invalid(&'static str),
}

impl AuthError {
    /// The scheme's name, for logs and metrics.
    pub fn scheme(&self) -> &'static str {
        match self {
            Self::Missing(s) | Self::Invalid(s) => s,
        }
    }
}

/// One verification scheme.
#[derive(Debug)]
pub enum Scheme {
    /// HTTP Basic auth (what ADO's Web Hooks consumer sends).
    Basic {
        /// Expected user name.
        username: String,
        /// Active passwords.
        passwords: SecretSet,
    },
    /// A header with a shared secret (ADO's `httpHeaders` input).
    Header {
        /// Lower-cased header name.
        name: String,
        /// Active values.
        values: SecretSet,
    },
    /// HMAC-SHA256 of the raw body in a header (relays that sign).
    Hmac {
        /// Lower-cased header name.
        header: String,
        /// Signature encoding.
        encoding: Encoding,
        /// Prefix before the signature, e.g. `sha256=`.
        prefix: String,
        /// Active keys.
        secrets: SecretSet,
    },
    /// Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
    StandardWebhooks {
        /// Active secrets (`whsec_<base64>` or raw).
        secrets: SecretSet,
        /// Largest accepted clock difference.
        tolerance: Duration,
    },
}

impl Scheme {
    fn name(&self) -> &'static str {
        match self {
            Self::Basic { .. } => "basic",
            Self::Header { .. } => "header",
            Self::Hmac { .. } => "hmac",
            Self::StandardWebhooks { .. } => "standardWebhooks",
        }
    }

    fn needs_body(&self) -> bool {
        matches!(self, Self::Hmac { .. } | Self::StandardWebhooks { .. })
    }

    /// Headers this scheme reads that carry secrets or signatures; they are
    /// hidden from rules and never stored.
    pub fn secret_headers(&self) -> Vec<String> {
        match self {
            Self::Basic { .. } => vec!["authorization".into()],
            Self::Header { name, .. } => vec![name.clone()],
            Self::Hmac { header, .. } => vec![header.clone()],
            Self::StandardWebhooks { .. } => vec!["webhook-signature".into()],
        }
    }

    fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<String, AuthError> {
        match self {
            Self::Basic {
                username,
                passwords,
            } => schemes::basic(headers, username, passwords),
            Self::Header { name, values } => schemes::header(headers, name, values),
            Self::Hmac {
                header,
                encoding,
                prefix,
                secrets,
            } => schemes::hmac(headers, body, header, *encoding, prefix, secrets),
            Self::StandardWebhooks { secrets, tolerance } => {
                schemes::standard_webhooks(headers, body, secrets, *tolerance, now)
            }
        }
    }
}

/// The verification a source requires.
#[derive(Debug, Default)]
pub struct SourceVerifier {
    schemes: Vec<Scheme>,
}

/// Which key of each scheme matched, e.g. `basic:config[0]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matched(pub Vec<String>);

impl std::fmt::Display for Matched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(","))
    }
}

impl SourceVerifier {
    /// A verifier requiring every scheme given.
    pub fn new(schemes: Vec<Scheme>) -> Self {
        Self { schemes }
    }

    /// The schemes, in configuration order (for `subscriptions`, which
    /// sends the current credentials to ADO).
    pub fn schemes(&self) -> &[Scheme] {
        &self.schemes
    }

    /// Whether any scheme is configured.
    pub fn is_empty(&self) -> bool {
        self.schemes.is_empty()
    }

    /// Runs the schemes that need only headers.
    pub fn verify_headers(&self, headers: &HeaderMap) -> Result<Matched, AuthError> {
        self.run(headers, &[], SystemTime::now(), false)
    }

    /// Runs the schemes that sign the body.
    pub fn verify_body(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Matched, AuthError> {
        self.run(headers, body, now, true)
    }

    fn run(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
        with_body: bool,
    ) -> Result<Matched, AuthError> {
        let mut matched = Matched::default();
        for scheme in self.schemes.iter().filter(|s| s.needs_body() == with_body) {
            let key = scheme.verify(headers, body, now)?;
            matched.0.push(format!("{}:{key}", scheme.name()));
        }
        Ok(matched)
    }

    /// Lower-cased names of headers that carry this source's secrets.
    pub fn secret_headers(&self) -> Vec<String> {
        self.schemes
            .iter()
            .flat_map(Scheme::secret_headers)
            .collect()
    }
}

#[cfg(test)]
mod tests;
