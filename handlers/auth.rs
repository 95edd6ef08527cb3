//! Verifying who sent a delivery, before its body is parsed.

use base64::{Engine, engine::general_purpose::STANDARD};
use http::HeaderMap;

use crate::config::Source;

/// A delivery's sender failed verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("credentials required")]
    Missing,
    /// Credentials present but wrong or unreadable.
    #[error("invalid credentials")]
    Invalid,
}

/// Proof that a request passed its source's verification. Only
/// [`verify_basic`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSource {
    name: String,
}

impl VerifiedSource {
    /// The verified source's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Checks HTTP Basic credentials against the source's, in constant time.
pub fn verify_basic(source: &Source, headers: &HeaderMap) -> Result<VerifiedSource, AuthError> {
    let Some(expected) = &source.basic else {
        return Err(AuthError::Invalid);
    };
    let value = headers
        .get(http::header::AUTHORIZATION)
        .ok_or(AuthError::Missing)?
        .as_bytes();
    let encoded = value
        .strip_prefix(b"Basic ")
        .or_else(|| value.strip_prefix(b"basic "))
        .ok_or(AuthError::Invalid)?;
    let decoded = STANDARD
        .decode(trim_ascii(encoded))
        .map_err(|_| AuthError::Invalid)?;
    let split = decoded
        .iter()
        .position(|&b| b == b':')
        .ok_or(AuthError::Invalid)?;
    let (user, pass) = (&decoded[..split], &decoded[split + 1..]);
    // Evaluate both comparisons before combining, so timing does not reveal
    // which half was wrong.
    let user_ok = crate::config::Secret::new(expected.username.clone()).matches(user);
    let pass_ok = expected.password.matches(pass);
    if user_ok & pass_ok {
        Ok(VerifiedSource {
            name: source.name.clone(),
        })
    } else {
        Err(AuthError::Invalid)
    }
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BasicCredentials, Secret};

    fn source() -> Source {
        Source {
            name: "fabrikam".into(),
            basic: Some(BasicCredentials {
                username: "ado-hooks".into(),
                password: Secret::new("correct horse battery"),
            }),
        }
    }

    fn with_auth(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            value.parse().expect("header value"),
        );
        h
    }

    fn basic(user: &str, pass: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{user}:{pass}")))
    }

    #[test]
    fn accepts_the_right_credentials() {
        let v = verify_basic(
            &source(),
            &with_auth(&basic("ado-hooks", "correct horse battery")),
        );
        assert_eq!(v.map(|v| v.name().to_owned()), Ok("fabrikam".into()));
    }

    #[test]
    fn refuses_everything_else() {
        let s = source();
        assert_eq!(verify_basic(&s, &HeaderMap::new()), Err(AuthError::Missing));
        for bad in [
            basic("ado-hooks", "wrong"),
            basic("someone", "correct horse battery"),
            basic("ado-hooks", "correct horse battery "),
            basic("ado-hooks", ""),
            "Basic !!!notbase64".to_owned(),
            format!("Basic {}", STANDARD.encode("no-colon")),
            format!(
                "Bearer {}",
                STANDARD.encode("ado-hooks:correct horse battery")
            ),
        ] {
            assert_eq!(
                verify_basic(&s, &with_auth(&bad)),
                Err(AuthError::Invalid),
                "{bad}"
            );
        }
    }
}
