//! The verification schemes themselves.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, STANDARD_NO_PAD},
};
use hmac::{Hmac, Mac};
use http::HeaderMap;
use serde::Deserialize;
use sha2::Sha256;

use super::{AuthError, SecretSet};

type HmacSha256 = Hmac<Sha256>;

/// How a signature is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Lower- or upper-case hex.
    #[default]
    Hex,
    /// Standard base64.
    Base64,
}

/// The first key id whose value matches, trying every value (so timing does
/// not depend on which one matched). Each comparison is constant-time.
fn first_match(secrets: &SecretSet, mut matches: impl FnMut(&[u8]) -> bool) -> Option<String> {
    let mut found = None;
    for k in secrets.values() {
        if matches(k.secret.expose().as_bytes()) && found.is_none() {
            found = Some(k.key_id);
        }
    }
    found
}

pub(super) fn basic(
    headers: &HeaderMap,
    username: &str,
    passwords: &SecretSet,
) -> Result<String, AuthError> {
    const S: &str = "basic auth";
    let value = headers
        .get(http::header::AUTHORIZATION)
        .ok_or(AuthError::Missing(S))?
        .as_bytes();
    let encoded = value
        .strip_prefix(b"Basic ")
        .or_else(|| value.strip_prefix(b"basic "))
        .ok_or(AuthError::Invalid(S))?;
    let decoded = STANDARD
        .decode(encoded.trim_ascii())
        .map_err(|_| AuthError::Invalid(S))?;
    let split = decoded
        .iter()
        .position(|&b| b == b':')
        .ok_or(AuthError::Invalid(S))?;
    let (user, pass) = (&decoded[..split], &decoded[split + 1..]);
    let user_ok = crate::config::Secret::new(username).matches(user);
    let key = first_match(passwords, |p| crate::config::Secret::ct_eq(p, pass));
    match (user_ok, key) {
        (true, Some(k)) => Ok(k),
        _ => Err(AuthError::Invalid(S)),
    }
}

pub(super) fn header(
    headers: &HeaderMap,
    name: &str,
    values: &SecretSet,
) -> Result<String, AuthError> {
    const S: &str = "secret header";
    let got = headers.get(name).ok_or(AuthError::Missing(S))?.as_bytes();
    first_match(values, |v| crate::config::Secret::ct_eq(v, got)).ok_or(AuthError::Invalid(S))
}

pub(super) fn hmac(
    headers: &HeaderMap,
    body: &[u8],
    header: &str,
    encoding: Encoding,
    prefix: &str,
    secrets: &SecretSet,
) -> Result<String, AuthError> {
    const S: &str = "HMAC signature";
    let raw = headers.get(header).ok_or(AuthError::Missing(S))?.as_bytes();
    let sig = raw
        .trim_ascii()
        .strip_prefix(prefix.as_bytes())
        .ok_or(AuthError::Invalid(S))?;
    let sig = match encoding {
        Encoding::Hex => hex::decode(sig).map_err(|_| AuthError::Invalid(S))?,
        Encoding::Base64 => STANDARD.decode(sig).map_err(|_| AuthError::Invalid(S))?,
    };
    first_match(secrets, |key| {
        HmacSha256::new_from_slice(key).is_ok_and(|mut mac| {
            mac.update(body);
            mac.verify_slice(&sig).is_ok()
        })
    })
    .ok_or(AuthError::Invalid(S))
}

/// The key bytes of a Standard Webhooks secret: base64 after `whsec_`, or
/// the raw bytes of any other value.
fn sw_key(secret: &[u8]) -> Vec<u8> {
    match secret.strip_prefix(b"whsec_") {
        Some(b64) => STANDARD
            .decode(b64)
            .or_else(|_| STANDARD_NO_PAD.decode(b64))
            .unwrap_or_else(|_| secret.to_vec()),
        None => secret.to_vec(),
    }
}

/// The `v1,<base64>` signature of a Standard Webhooks message (for relays
/// and tests).
pub fn standard_webhooks_signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let Ok(mut mac) = HmacSha256::new_from_slice(&sw_key(secret.as_bytes())) else {
        return String::new();
    };
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

pub(super) fn standard_webhooks(
    headers: &HeaderMap,
    body: &[u8],
    secrets: &SecretSet,
    tolerance: Duration,
    now: SystemTime,
) -> Result<String, AuthError> {
    const S: &str = "Standard Webhooks signature";
    let get = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .ok_or(AuthError::Missing(S))
    };
    let id = get("webhook-id")?;
    let ts_text = get("webhook-timestamp")?;
    let signatures = get("webhook-signature")?;
    let ts: i64 = ts_text.trim().parse().map_err(|_| AuthError::Invalid(S))?;
    let now_s = now
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let tol = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    // Outside the window: a replay of an old message, or a badly wrong clock.
    if now_s.abs_diff(ts) > tol.unsigned_abs() {
        return Err(AuthError::Invalid(S));
    }
    let candidates: Vec<Vec<u8>> = signatures
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|b64| STANDARD.decode(b64).ok())
        .collect();
    if candidates.is_empty() {
        return Err(AuthError::Invalid(S));
    }
    first_match(secrets, |secret| {
        HmacSha256::new_from_slice(&sw_key(secret)).is_ok_and(|mut mac| {
            mac.update(format!("{id}.{ts}.").as_bytes());
            mac.update(body);
            let mut any = false;
            for c in &candidates {
                any |= mac.clone().verify_slice(c).is_ok();
            }
            any
        })
    })
    .ok_or(AuthError::Invalid(S))
}
