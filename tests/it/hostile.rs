//! Hostile input: generated inputs never panic the parser, the normalizer,
//! the verifiers or the template renderer; oversized and malformed requests
//! get clear refusals. (Property-based, with proptest: the case counts are
//! printed by `cargo test -- --nocapture hostile`.)

use std::time::SystemTime;

use ado_temporal_bridge::{
    ado::{Envelope, normalize},
    config::Secret,
    mapping::{NullText, Template, Variables},
    verify::{Encoding, Scheme, SecretSet, SourceVerifier},
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const CASES: u32 = 4_000;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("id".to_owned()),
                    Just("eventType".to_owned()),
                    Just("resource".to_owned()),
                    Just("refUpdates".to_owned()),
                    Just("commits".to_owned()),
                    Just("approval".to_owned()),
                    Just("environment".to_owned()),
                    Just("run".to_owned()),
                    Just("sourceGetVersion".to_owned()),
                    "[a-zA-Z]{1,12}",
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn envelope_with(event_type: &str, resource: Value) -> Value {
    json!({"id": "e", "eventType": event_type, "publisherId": "tfs", "resource": resource})
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_the_envelope_parser(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Envelope::parse(&body);
    }

    #[test]
    fn arbitrary_resources_never_panic_the_normalizer(
        resource in json_value(),
        event_type in prop_oneof![
            Just("git.push"), Just("git.pullrequest.updated"), Just("build.complete"),
            Just("ms.vss-release.deployment-approval-pending-event"),
            Just("ms.vss-release.deployment-started-event"),
            Just("ms.vss-pipelines.stage-state-changed-event"),
            Just("ms.vss-pipelinechecks-events.approval-pending"), Just("other.event"),
        ],
    ) {
        let resource = if resource.is_object() { resource } else { json!({"x": resource}) };
        if let Ok(env) = Envelope::from_value(envelope_with(event_type, resource)) {
            let view = normalize(&env);
            prop_assert_eq!(view.event_type.as_str(), event_type);
        }
    }

    #[test]
    fn arbitrary_headers_and_bodies_never_panic_the_verifiers(
        auth in ".{0,80}",
        sig in ".{0,120}",
        ts in ".{0,20}",
        body in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let set = |v: &str| SecretSet::new(vec![Secret::new(v)], None).expect("set");
        let v = SourceVerifier::new(vec![
            Scheme::Basic { username: "u".into(), passwords: set("password-1") },
            Scheme::Hmac { header: "x-sig".into(), encoding: Encoding::Base64, prefix: "sha256=".into(), secrets: set("key-0123456789abcdef") },
            Scheme::StandardWebhooks { secrets: set("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), tolerance: std::time::Duration::from_secs(300) },
        ]);
        let mut h = http::HeaderMap::new();
        for (name, value) in [("authorization", &auth), ("x-sig", &sig), ("webhook-signature", &sig), ("webhook-timestamp", &ts), ("webhook-id", &ts)] {
            if let Ok(value) = http::HeaderValue::from_str(value) {
                h.insert(name, value);
            }
        }
        prop_assert!(v.verify_headers(&h).is_err() || auth.contains("Basic"));
        prop_assert!(v.verify_body(&h, &body, SystemTime::now()).is_err());
    }

    #[test]
    fn arbitrary_templates_never_panic_compiling_or_rendering(text in ".{0,80}", data in json_value()) {
        let t = Template::compile_str(&text).or_else(|_| Template::compile_str(&format!("${{{{ {text} }}}}")));
        if let Ok(t) = t {
            let headers = Map::new();
            let ctx = Variables { event: &data, ado: &data, headers: &headers, source: "s", correlation_id: "c" }.context();
            let _ = t.render(&ctx, NullText::Empty);
            let _ = t.render_name(&ctx);
        }
    }
}

#[test]
fn deeply_nested_json_is_refused_not_a_stack_overflow() {
    let depth = 100_000;
    let body = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let err = Envelope::parse(body.as_bytes()).expect_err("too deep");
    assert!(err.to_string().contains("recursion limit"), "{err}");
}
