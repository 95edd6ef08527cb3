//! Verification schemes, rotation, least privilege and secret hygiene
//! against a real Temporal.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::Mac;
use serde_json::{Value, json};

use crate::support::{
    TestApp, dev_server, fixture, fresh_namespace, push_event, shipped_mappings, workflow,
};

const HEADER_SECRET: &str = "hdr-secret-7f3a9c2e5b1d";
const BASIC_SECRET: &str = "basic-secret-4e8d2a6c0f";

/// A rule that copies every header rules can see into the workflow.
const LEAKY_RULES: &str = "version: 1
rules:
  - name: echo-headers
    events: [git.push]
    start:
      workflowType: Echo
      taskQueue: echo
      workflowId: echo-${{ ado.commit.id }}
      input: ${{ headers }}
      memo: {headers: '${{ headers }}'}
";

async fn app_with(rules: Option<&str>, sources: &str) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mappings = match rules {
        Some(r) => {
            std::fs::write(dir.path().join("rules.yaml"), r).expect("rules");
            dir.path().to_owned()
        }
        None => shipped_mappings(),
    };
    let server = dev_server();
    let app =
        TestApp::spawn_configured(&server.address, &fresh_namespace(), &mappings, sources).await;
    app.wait_ready().await;
    (app, dir)
}

fn basic(user: &str, pass: &str) -> (String, String) {
    use base64::Engine;
    let v = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    ("authorization".into(), format!("Basic {v}"))
}

async fn post(
    app: &TestApp,
    source: &str,
    body: &[u8],
    headers: &[(String, String)],
) -> (u16, Value) {
    let mut req = app
        .http
        .post(format!("{}/webhooks/{source}", app.base))
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let r = req.send().await.expect("sent");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

#[tokio::test]
async fn secrets_never_reach_temporal_or_the_spool() {
    let sources = format!(
        "  - name: guarded\n    auth:\n      basic: {{username: ado-hooks, password: {BASIC_SECRET}}}\n      header: {{name: X-Bridge-Key, value: {HEADER_SECRET}}}\n"
    );
    let (app, _dir) = app_with(Some(LEAKY_RULES), &sources).await;
    let body = serde_json::to_vec(&push_event(42)).expect("json");
    let mut h = vec![basic("ado-hooks", BASIC_SECRET)];
    h.push(("x-bridge-key".into(), HEADER_SECRET.into()));
    h.push(("x-custom".into(), "visible".into()));
    let (status, answer) = post(&app, "guarded", &body, &h).await;
    assert_eq!(status, 200, "{answer}");

    let client = app.temporal().await;
    let wf = workflow(&client, &format!("echo-{:040x}", 42))
        .await
        .expect("started");
    let input = wf.input.expect("input");
    assert_eq!(
        input["x-custom"], "visible",
        "other headers do reach rules: {input}"
    );
    assert!(input.get("authorization").is_none() && input.get("x-bridge-key").is_none());
    let everything = format!("{:?} {:?} {:?}", wf.memo, wf.header, input);
    for secret in [BASIC_SECRET, HEADER_SECRET] {
        assert!(!everything.contains(secret), "{secret} reached Temporal");
    }
    // The spool and delivery log: every byte of the database and its WAL.
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(&app.data_dir).expect("data dir") {
        stored.extend(std::fs::read(entry.expect("entry").path()).unwrap_or_default());
    }
    assert!(!stored.is_empty());
    let basic_value = basic("ado-hooks", BASIC_SECRET).1;
    for needle in [BASIC_SECRET, HEADER_SECRET, basic_value.as_str()] {
        assert!(
            !stored.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{needle} reached the store"
        );
    }
    // Missing the second scheme: refused.
    let (status, _) = post(&app, "guarded", &body, &[basic("ado-hooks", BASIC_SECRET)]).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_valid_credential_outside_its_grant_is_refused_with_403() {
    let sources = "  - name: limited\n    auth:\n      basic: {username: ado-hooks, password: limited-password}\n    allow:\n      projects: [00000000-0000-0000-0000-0000000000aa]\n  - name: builds-only\n    auth:\n      basic: {username: ado-hooks, password: builds-password}\n    allow:\n      rules: [build-finished]\nadmin: {token: test-admin-token-0123456789}\n";
    let (app, _dir) = app_with(None, sources).await;
    let push = serde_json::to_vec(&fixture("git.push.json")).expect("json");
    let (status, body) = post(
        &app,
        "limited",
        &push,
        &[basic("ado-hooks", "limited-password")],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["outcome"], "forbidden");
    let (status, body) = post(
        &app,
        "builds-only",
        &push,
        &[basic("ado-hooks", "builds-password")],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("deploy-main")
    );
    let client = app.temporal().await;
    assert!(
        workflow(
            &client,
            "deploy-payments-api-546c2aad0d0cf7bbabe3f8426df2c9a870c5c912"
        )
        .await
        .is_none()
    );
    // Refusals are counted by reason.
    let stats: Value = app
        .http
        .get(format!("{}/admin/stats", app.base))
        .bearer_auth(crate::support::ADMIN_TOKEN)
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(stats["refused"]["forbidden"], 2, "{stats}");
    // Within the grant: works.
    let build = serde_json::to_vec(&fixture("build.complete.v2.json")).expect("json");
    let (status, body) = post(
        &app,
        "builds-only",
        &build,
        &[basic("ado-hooks", "builds-password")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

fn sign_hmac(key: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn signed_relays_hmac_and_standard_webhooks() {
    let sources = "  - name: relay\n    auth:\n      hmac: {header: X-Hub-Signature-256, prefix: 'sha256=', secret: relay-signing-key-0001}\n  - name: sw\n    auth:\n      standardWebhooks: {secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw}\n";
    let (app, _dir) = app_with(None, sources).await;
    let body = serde_json::to_vec(&fixture("build.complete.v2.json")).expect("json");
    let sig = sign_hmac("relay-signing-key-0001", &body);
    let (status, answer) = post(
        &app,
        "relay",
        &body,
        &[("x-hub-signature-256".into(), sig.clone())],
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (status, _) = post(
        &app,
        "relay",
        b"{\"tampered\":1}",
        &[("x-hub-signature-256".into(), sig)],
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = post(&app, "relay", &body, &[]).await;
    assert_eq!(status, 401);

    let body = serde_json::to_vec(&fixture("build.complete.v2-failed.json")).expect("json");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let sw = |ts: i64| {
        vec![
            ("webhook-id".to_owned(), "msg_2Lh9".to_owned()),
            ("webhook-timestamp".to_owned(), ts.to_string()),
            (
                "webhook-signature".to_owned(),
                ado_temporal_bridge::verify::standard_webhooks_signature(
                    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                    "msg_2Lh9",
                    ts,
                    &body,
                ),
            ),
        ]
    };
    let (status, answer) = post(&app, "sw", &body, &sw(now - 3_600)).await;
    assert_eq!(status, 401, "a replay an hour later is refused: {answer}");
    let (status, answer) = post(&app, "sw", &body, &sw(now)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["outcome"], json!("accepted"));
}

#[tokio::test]
async fn rotating_a_password_file_under_load_fails_no_delivery() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("ado-hook-password");
    std::fs::write(&file, "old-password-0000\n").expect("write");
    let sources = format!(
        "  - name: rotating\n    auth:\n      basic: {{username: ado-hooks, passwordFile: {}}}\n",
        file.display()
    );
    let (app, _d) = app_with(None, &sources).await;
    let mut password = "old-password-0000";
    for n in 1..=60usize {
        match n {
            // Key Vault publishes the new value beside the old one...
            20 => std::fs::write(&file, "old-password-0000\nnew-password-1111\n").expect("write"),
            // ...the ADO subscription is switched to it...
            30 => {
                tokio::time::sleep(Duration::from_millis(1_100)).await;
                password = "new-password-1111";
            }
            // ...and the old value is retired.
            40 => std::fs::write(&file, "new-password-1111\n").expect("write"),
            _ => {}
        }
        let body = serde_json::to_vec(&push_event(1_000 + n)).expect("json");
        let (status, answer) = post(&app, "rotating", &body, &[basic("ado-hooks", password)]).await;
        assert!(
            (200..300).contains(&status),
            "delivery {n} failed during rotation: {status} {answer}"
        );
    }
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let body = serde_json::to_vec(&push_event(2_000)).expect("json");
    let (status, _) = post(
        &app,
        "rotating",
        &body,
        &[basic("ado-hooks", "old-password-0000")],
    )
    .await;
    assert_eq!(status, 401, "the retired password no longer works");
    // Both rewrites were picked up and counted (the counter is process-wide,
    // so other tests may add to it).
    let metrics = app.metrics().await;
    let reloads = crate::support::metric_value(
        &metrics,
        r#"ado_bridge_config_reloads_total{file="secret",result="ok"}"#,
    );
    assert!(reloads >= 2.0, "{reloads}\n{metrics}");
}

#[tokio::test]
async fn native_tls_serves_webhooks_over_https() {
    let dir = tempfile::tempdir().expect("tempdir");
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let cert_pem = generated.cert.pem();
    std::fs::write(dir.path().join("tls.crt"), &cert_pem).expect("cert");
    std::fs::write(
        dir.path().join("tls.key"),
        generated.signing_key.serialize_pem(),
    )
    .expect("key");
    let extra = format!(
        "tls: {{certFile: {}, keyFile: {}}}\n",
        dir.path().join("tls.crt").display(),
        dir.path().join("tls.key").display()
    );
    let server = dev_server();
    let app = TestApp::spawn_configured(
        &server.address,
        &fresh_namespace(),
        &shipped_mappings(),
        &extra,
    )
    .await;
    let port = app.base.rsplit(':').next().unwrap_or_default().to_owned();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).expect("pem"))
        .build()
        .expect("client");
    let base = format!("https://localhost:{port}");
    let ready = crate::support::eventually("TLS readiness", Duration::from_secs(30), || async {
        let r = client.get(format!("{base}/readyz")).send().await.ok()?;
        let b: Value = r.json().await.ok()?;
        (b["temporal"] == "reachable").then_some(b)
    })
    .await;
    assert_eq!(ready["status"], "ready");
    let (user, pass) = ("ado-hooks", crate::support::PASSWORD);
    let r = client
        .post(format!("{base}/webhooks/fabrikam"))
        .basic_auth(user, Some(pass))
        .json(&fixture("git.push.json"))
        .send()
        .await
        .expect("https request");
    assert_eq!(r.status(), 200);
    // Plain HTTP on the TLS port gets no answer a client could mistake for success.
    let plain = app
        .http
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));
}

#[tokio::test]
async fn absurd_requests_are_refused_cheaply() {
    let app = TestApp::spawn().await;
    let long = format!("{}/webhooks/fabrikam?{}", app.base, "a".repeat(5_000));
    assert_eq!(
        app.http.post(long).send().await.expect("sent").status(),
        414
    );
    let mut req = app.http.post(format!("{}/webhooks/fabrikam", app.base));
    for i in 0..120 {
        req = req.header(format!("x-h{i}"), "v");
    }
    assert_eq!(req.send().await.expect("sent").status(), 431);
    let nested = format!("{}{}", "[".repeat(5_000), "]".repeat(5_000));
    let r = app
        .post_raw(
            "fabrikam",
            nested.into_bytes(),
            Some(("ado-hooks", crate::support::PASSWORD)),
            &[],
        )
        .await;
    assert_eq!(r.status(), 400);
}

const SLOW_RULES: &str = "version: 1
rules:
  - name: quadratic
    events: [git.push]
    when: event.resource.commits.all(a, event.resource.commits.all(b, a.commitId != b.commitId || true))
    signal: {workflowId: w, signalName: s}
";

#[tokio::test]
async fn a_rule_that_runs_too_long_fails_the_delivery_instead_of_hanging() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("rules.yaml"), SLOW_RULES).expect("rules");
    let server = dev_server();
    let app = TestApp::spawn_configured(
        &server.address,
        &fresh_namespace(),
        dir.path(),
        "limits: {ruleTimeout: 20ms}\n",
    )
    .await;
    let mut push = fixture("git.push.json");
    let commit = push["resource"]["commits"][0].clone();
    push["resource"]["commits"] = Value::Array(vec![commit; 1_500]);
    let started = std::time::Instant::now();
    let r = app.post(&push).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered without waiting for the rule"
    );
    assert_eq!(r.status(), 200);
    let b: Value = r.json().await.expect("json");
    assert_eq!(b["outcome"], "failed", "{b}");
    assert!(
        b["rules"][0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("ruleTimeout"),
        "{b}"
    );
    // The server still answers meanwhile.
    let h = app
        .http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .expect("healthz");
    assert_eq!(h.status(), 200);
}
