use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::Mac;
use http::HeaderMap;

use super::*;
use crate::config::Secret;

fn set(values: &[&str]) -> SecretSet {
    SecretSet::new(values.iter().map(|v| Secret::new(*v)).collect(), None).expect("set")
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
            v.parse().expect("value"),
        );
    }
    h
}

fn basic(user: &str, pass: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{pass}")))
}

fn basic_verifier() -> SourceVerifier {
    SourceVerifier::new(vec![Scheme::Basic {
        username: "ado-hooks".into(),
        passwords: set(&["new-password-1", "old-password-0"]),
    }])
}

#[test]
fn basic_accepts_every_active_password_and_names_the_key() {
    let v = basic_verifier();
    let m = v.verify_headers(&headers(&[(
        "authorization",
        &basic("ado-hooks", "old-password-0"),
    )]));
    assert_eq!(m, Ok(Matched(vec!["basic:config[1]".into()])));
    let m = v.verify_headers(&headers(&[(
        "authorization",
        &basic("ado-hooks", "new-password-1"),
    )]));
    assert_eq!(m, Ok(Matched(vec!["basic:config[0]".into()])));
}

#[test]
fn basic_refuses_everything_else() {
    let v = basic_verifier();
    assert_eq!(
        v.verify_headers(&HeaderMap::new()),
        Err(AuthError::Missing("basic auth"))
    );
    for bad in [
        basic("ado-hooks", "wrong"),
        basic("someone", "new-password-1"),
        basic("ado-hooks", "new-password-1 "),
        basic("ado-hooks", ""),
        "Basic !!!notbase64".to_owned(),
        format!("Basic {}", STANDARD.encode("no-colon")),
        format!("Bearer {}", STANDARD.encode("ado-hooks:new-password-1")),
    ] {
        assert_eq!(
            v.verify_headers(&headers(&[("authorization", &bad)])),
            Err(AuthError::Invalid("basic auth")),
            "{bad}"
        );
    }
}

#[test]
fn shared_secret_header() {
    let v = SourceVerifier::new(vec![Scheme::Header {
        name: "x-bridge-key".into(),
        values: set(&["0123456789abcdef-key"]),
    }]);
    assert!(
        v.verify_headers(&headers(&[("X-Bridge-Key", "0123456789abcdef-key")]))
            .is_ok()
    );
    assert_eq!(
        v.verify_headers(&headers(&[("x-bridge-key", "0123456789abcdef-kex")])),
        Err(AuthError::Invalid("secret header"))
    );
    assert_eq!(
        v.verify_headers(&HeaderMap::new()),
        Err(AuthError::Missing("secret header"))
    );
    assert_eq!(v.secret_headers(), vec!["x-bridge-key".to_owned()]);
}

fn hmac_hex(key: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[test]
fn hmac_over_the_raw_body_with_prefix_and_encodings() {
    let body = br#"{"id":"1","eventType":"git.push","resource":{}}"#;
    let v = SourceVerifier::new(vec![Scheme::Hmac {
        header: "x-hub-signature-256".into(),
        encoding: Encoding::Hex,
        prefix: "sha256=".into(),
        secrets: set(&["relay-signing-key-2", "relay-signing-key-1"]),
    }]);
    let sig = format!("sha256={}", hmac_hex("relay-signing-key-1", body));
    let h = headers(&[("x-hub-signature-256", &sig)]);
    assert_eq!(
        v.verify_body(&h, body, SystemTime::now()),
        Ok(Matched(vec!["hmac:config[1]".into()]))
    );
    assert!(
        v.verify_headers(&h).is_ok(),
        "HMAC is checked with the body, not before"
    );
    assert_eq!(
        v.verify_body(&h, b"tampered", SystemTime::now()),
        Err(AuthError::Invalid("HMAC signature"))
    );
    let no_prefix = headers(&[(
        "x-hub-signature-256",
        &hmac_hex("relay-signing-key-1", body),
    )]);
    assert!(v.verify_body(&no_prefix, body, SystemTime::now()).is_err());
    assert_eq!(
        v.verify_body(&HeaderMap::new(), body, SystemTime::now()),
        Err(AuthError::Missing("HMAC signature"))
    );

    let b64 = SourceVerifier::new(vec![Scheme::Hmac {
        header: "x-signature".into(),
        encoding: Encoding::Base64,
        prefix: String::new(),
        secrets: set(&["relay-signing-key-1"]),
    }]);
    let raw = hex::decode(hmac_hex("relay-signing-key-1", body)).expect("hex");
    let h = headers(&[("x-signature", &STANDARD.encode(raw))]);
    assert!(b64.verify_body(&h, body, SystemTime::now()).is_ok());
}

fn sw_verifier() -> SourceVerifier {
    SourceVerifier::new(vec![Scheme::StandardWebhooks {
        secrets: set(&["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]),
        tolerance: Duration::from_secs(300),
    }])
}

#[test]
fn standard_webhooks_signatures_and_replay_window() {
    let v = sw_verifier();
    let body = br#"{"id":"1"}"#;
    let now = UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    let ts = 1_790_000_000 - 60;
    let good =
        standard_webhooks_signature("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_1", ts, body);
    let other =
        standard_webhooks_signature("whsec_c29tZXRoaW5nIGVsc2UgZW50aXJlbHk=", "msg_1", ts, body);
    let ok = |sig: &str, ts: i64| {
        v.verify_body(
            &headers(&[
                ("webhook-id", "msg_1"),
                ("webhook-timestamp", &ts.to_string()),
                ("webhook-signature", sig),
            ]),
            body,
            now,
        )
    };
    assert!(ok(&good, ts).is_ok());
    assert!(
        ok(&format!("{other} {good}"), ts).is_ok(),
        "any of several signatures"
    );
    assert!(ok(&other, ts).is_err(), "wrong secret");
    assert!(ok(&good, ts + 1).is_err(), "timestamp is signed");
    let old = 1_790_000_000 - 301;
    let replayed =
        standard_webhooks_signature("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_1", old, body);
    assert_eq!(
        ok(&replayed, old),
        Err(AuthError::Invalid("Standard Webhooks signature")),
        "outside tolerance"
    );
    assert!(ok("v2,abc", ts).is_err());
    assert!(v.verify_body(&HeaderMap::new(), body, now).is_err());
}

#[test]
fn every_configured_scheme_must_pass() {
    let body = b"{}";
    let v = SourceVerifier::new(vec![
        Scheme::Basic {
            username: "ado-hooks".into(),
            passwords: set(&["new-password-1"]),
        },
        Scheme::Hmac {
            header: "x-sig".into(),
            encoding: Encoding::Hex,
            prefix: String::new(),
            secrets: set(&["relay-signing-key-1"]),
        },
    ]);
    let auth = basic("ado-hooks", "new-password-1");
    let sig = hmac_hex("relay-signing-key-1", body);
    assert!(
        v.verify_headers(&headers(&[("authorization", &auth)]))
            .is_ok()
    );
    assert!(
        v.verify_body(
            &headers(&[("authorization", &auth)]),
            body,
            SystemTime::now()
        )
        .is_err()
    );
    assert!(
        v.verify_body(
            &headers(&[("authorization", &auth), ("x-sig", &sig)]),
            body,
            SystemTime::now()
        )
        .is_ok()
    );
    assert!(v.verify_headers(&headers(&[("x-sig", &sig)])).is_err());
}

#[test]
fn a_password_removed_from_the_file_stops_working() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("ado-hook-password");
    std::fs::write(&f, "old-password-0\nnew-password-1\n").expect("write");
    let v = SourceVerifier::new(vec![Scheme::Basic {
        username: "ado-hooks".into(),
        passwords: SecretSet::new(vec![], Some(f.clone())).expect("set"),
    }]);
    let old = headers(&[("authorization", &basic("ado-hooks", "old-password-0"))]);
    let new = headers(&[("authorization", &basic("ado-hooks", "new-password-1"))]);
    assert_eq!(
        v.verify_headers(&old),
        Ok(Matched(vec!["basic:ado-hook-password#1".into()]))
    );
    assert!(v.verify_headers(&new).is_ok());
    std::fs::write(&f, "new-password-1\n").expect("rotate");
    std::thread::sleep(Duration::from_millis(1_100));
    assert!(
        v.verify_headers(&old).is_err(),
        "the old password is refused after removal"
    );
    assert!(v.verify_headers(&new).is_ok());
}
