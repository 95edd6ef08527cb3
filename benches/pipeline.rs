//! The per-delivery CPU path, piece by piece, on realistic 3-5 KB
//! deliveries: verification (Basic, HMAC), envelope parse and `ado`
//! normalization, building the CEL variables, rule evaluation with 1, 20
//! and 200 rules, and template rendering. Run with
//! `cargo bench --bench pipeline`.
//!
//! divan rather than criterion: it compiles in a fraction of the time
//! (no plotting or statistics stack) on a machine shared with other
//! builds, and its `args` give the 1/20/200-rule series without
//! hand-written benchmark groups. Rules are compiled once, outside the
//! timed code, exactly as the bridge compiles them once at load.

#[path = "support/workload.rs"]
mod workload;

use std::{path::Path, time::SystemTime};

use ado_temporal_bridge::{
    ado::{self, Envelope},
    config::Secret,
    mapping::{NullText, RuleSet, Template, Variables},
    verify::{Encoding, Scheme, SecretSet, SourceVerifier},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use divan::{Bencher, black_box};
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue};
use serde_json::{Map, Value};

const PASSWORD: &str = "a-long-random-benchmark-password";
const HMAC_KEY: &str = "a-long-random-benchmark-hmac-key";

fn main() {
    divan::main();
}

/// A push to `main` (4.4 KB of compact JSON): matches exactly one rule.
fn body() -> Vec<u8> {
    serde_json::to_vec(&workload::push(&workload::push_template(), 7, "main")).expect("json")
}

fn secret(value: &str) -> SecretSet {
    SecretSet::new(vec![Secret::new(value)], None).expect("secret")
}

#[divan::bench]
fn verify_basic(b: Bencher) {
    let verifier = SourceVerifier::new(vec![Scheme::Basic {
        username: "ado-hooks".into(),
        passwords: secret(PASSWORD),
    }]);
    let mut headers = HeaderMap::new();
    let value = format!("Basic {}", STANDARD.encode(format!("ado-hooks:{PASSWORD}")));
    headers.insert("authorization", HeaderValue::from_str(&value).expect("hv"));
    b.bench_local(|| verifier.verify_headers(black_box(&headers)).expect("ok"));
}

#[divan::bench]
fn verify_hmac(b: Bencher) {
    let body = body();
    let verifier = SourceVerifier::new(vec![Scheme::Hmac {
        header: "x-signature".into(),
        encoding: Encoding::Hex,
        prefix: "sha256=".into(),
        secrets: secret(HMAC_KEY),
    }]);
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(HMAC_KEY.as_bytes()).expect("key");
    mac.update(&body);
    let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let mut headers = HeaderMap::new();
    headers.insert("x-signature", HeaderValue::from_str(&sig).expect("hv"));
    let now = SystemTime::now();
    b.bench_local(|| {
        verifier
            .verify_body(black_box(&headers), black_box(&body), now)
            .expect("ok")
    });
}

/// What the pipeline does before rules: parse the envelope, build the
/// normalized view, turn it into JSON for CEL.
#[divan::bench]
fn parse_and_normalize(b: Bencher) {
    let body = body();
    b.bench_local(|| {
        let envelope = Envelope::parse(black_box(&body)).expect("envelope");
        let view = ado::normalize(&envelope);
        let json = serde_json::to_value(&view).expect("view");
        (envelope, json)
    });
}

struct Prepared {
    envelope: Envelope,
    ado: Value,
    headers: Map<String, Value>,
}

fn prepared() -> Prepared {
    let envelope = Envelope::parse(&body()).expect("envelope");
    let ado = serde_json::to_value(ado::normalize(&envelope)).expect("view");
    let mut headers = Map::new();
    headers.insert("content-type".into(), "application/json".into());
    Prepared {
        envelope,
        ado,
        headers,
    }
}

impl Prepared {
    fn vars(&self) -> Variables<'_> {
        Variables {
            event: &self.envelope.raw,
            ado: &self.ado,
            headers: &self.headers,
            source: "fabrikam",
            correlation_id: "bench-correlation",
        }
    }
}

/// Converting the JSON envelope and view into CEL values: paid once per
/// delivery, whatever the number of rules.
#[divan::bench]
fn cel_variables(b: Bencher) {
    let p = prepared();
    b.bench_local(|| p.vars().context());
}

/// Every rule against one delivery, CEL variables included; one rule
/// matches and renders its action.
#[divan::bench(args = [1, 20, 200])]
fn evaluate_rules(b: Bencher, n: usize) {
    let rules = RuleSet::from_rules(
        RuleSet::parse_file(Path::new("bench.yaml"), &workload::rules_yaml(n, "Deploy"))
            .expect("rules compile"),
    );
    let p = prepared();
    let check = rules.evaluate(&p.vars());
    assert_eq!(check.actions.len(), 1, "{:?}", check.decisions);
    b.bench_local(|| rules.evaluate(black_box(&p.vars())));
}

/// Rendering the start input of `deploy-main` (text parts, a whole-value
/// expression and a list of commits), against a ready context.
#[divan::bench]
fn render_template(b: Bencher) {
    let spec: Value = serde_json::json!({
        "repository": "${{ ado.repository.name }}",
        "commit": "${{ ado.commit.id }}",
        "commits": "${{ ado.commits }}",
        "title": "deploy ${{ ado.repository.name }} at ${{ ado.commit.id }} by ${{ ado.actor.name }}",
    });
    let template = Template::compile(&spec).expect("template");
    let p = prepared();
    let ctx = p.vars().context();
    b.bench_local(|| {
        template
            .render(black_box(&ctx), NullText::Empty)
            .expect("renders")
    });
}
