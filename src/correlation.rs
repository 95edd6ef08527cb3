//! Correlation ids: one per delivery, following it through logs, traces,
//! responses and the workflow's memo and headers.

use uuid::Uuid;

use crate::ado::Envelope;

/// Namespace for correlation ids derived from deliveries (UUIDv5).
const NAMESPACE: Uuid = Uuid::from_u128(0x0b7e_4d1c_8a52_4c3f_9e61_2f4a_6c8d_1e37);

/// The caller's `X-Correlation-ID`, when it is safe to echo and log:
/// 1-128 characters of letters, digits, `-`, `_`, `.`, `:`.
pub fn from_header(value: &str) -> Option<String> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then(|| value.to_owned())
}

/// An id derived from the delivery, so that ADO's redelivery of the same
/// notification gets the same id: from `subscriptionId/notificationId` when
/// present, otherwise from the event id.
pub fn derive(envelope: &Envelope) -> String {
    let key = match envelope.notification_key() {
        Some(k) => format!("notification:{k}"),
        None => format!("event:{}", envelope.id),
    };
    Uuid::new_v5(&NAMESPACE, key.as_bytes()).to_string()
}

/// A fresh id, for requests that never got as far as a parsed envelope.
pub fn random() -> String {
    Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_safe_header_values_are_used() {
        assert_eq!(
            from_header("abc-123_x.y:z").as_deref(),
            Some("abc-123_x.y:z")
        );
        assert_eq!(from_header(""), None);
        assert_eq!(from_header("has space"), None);
        assert_eq!(from_header("new\nline"), None);
        assert_eq!(from_header(&"x".repeat(129)), None);
    }

    #[test]
    fn derived_ids_are_stable_per_notification() {
        let a = Envelope::parse(br#"{"id":"e1","eventType":"git.push","resource":{},"subscriptionId":"s","notificationId":3}"#)
            .expect("valid");
        let again = Envelope::parse(br#"{"id":"e1","eventType":"git.push","resource":{},"subscriptionId":"s","notificationId":3}"#)
            .expect("valid");
        let other = Envelope::parse(br#"{"id":"e1","eventType":"git.push","resource":{},"subscriptionId":"s","notificationId":4}"#)
            .expect("valid");
        assert_eq!(derive(&a), derive(&again));
        assert_ne!(derive(&a), derive(&other));
    }
}
