//! `kill -9` in the middle of a stream of deliveries loses nothing and
//! duplicates nothing.

use std::{
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use futures_util::{StreamExt, stream};
use serde_json::Value;

use crate::support::{
    PASSWORD, dev_server, eventually, free_port, fresh_namespace, push_event, shipped_mappings,
    temporal_client, workflow,
};

const BIN: &str = env!("CARGO_BIN_EXE_ado-temporal-bridge");
const DELIVERIES: usize = 300;

fn spawn(config: &std::path::Path) -> Child {
    Command::new(BIN)
        .args(["serve", "--config"])
        .arg(config)
        .env("BRIDGE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("bridge starts")
}

async fn wait_ready(http: &reqwest::Client, base: &str) -> Value {
    eventually(
        "the bridge to be ready",
        Duration::from_secs(30),
        || async {
            let r = http.get(format!("{base}/readyz")).send().await.ok()?;
            let body: Value = r.json().await.ok()?;
            (body["status"] == "ready" && body["temporal"] == "reachable").then_some(body)
        },
    )
    .await
}

/// Waits until the bridge's spool has nothing pending.
async fn drained(http: &reqwest::Client, base: &str) {
    eventually("the spool to drain", Duration::from_secs(60), || async {
        let body: Value = http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (body["spool"]["pending"] == 0).then_some(())
    })
    .await;
}

async fn send(http: &reqwest::Client, base: &str, n: usize) -> Option<u16> {
    let r = http
        .post(format!("{base}/webhooks/fabrikam"))
        .basic_auth("ado-hooks", Some(PASSWORD))
        .json(&push_event(n))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    Some(r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_bridge_mid_stream_loses_and_duplicates_nothing() {
    let server = dev_server();
    let namespace = fresh_namespace();
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let config = dir.path().join("bridge.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:{port}\ntemporal: {{address: \"{}\", namespace: {namespace}}}\nmappings: [{}]\ndataDir: {}\n\
             sources:\n  - name: fabrikam\n    auth:\n      basic: {{username: ado-hooks, password: {PASSWORD}}}\n",
            server.address,
            shipped_mappings().display(),
            dir.path().join("data").display()
        ),
    )
    .expect("write config");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();

    let mut child = spawn(&config);
    wait_ready(&http, &base).await;

    // Fire all deliveries 32 at a time; kill -9 the bridge a third of the way.
    let answered = Arc::new(AtomicUsize::new(0));
    let killer = {
        let answered = Arc::clone(&answered);
        let pid = child.id();
        tokio::spawn(async move {
            while answered.load(Ordering::SeqCst) < DELIVERIES / 3 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        })
    };
    let results: Vec<(usize, Option<u16>)> = stream::iter(1..=DELIVERIES)
        .map(|n| {
            let http = http.clone();
            let base = base.clone();
            let answered = Arc::clone(&answered);
            async move {
                let status = send(&http, &base, n).await;
                answered.fetch_add(1, Ordering::SeqCst);
                (n, status)
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    killer.await.expect("killer");
    let _ = child.wait();
    let accepted: Vec<usize> = results
        .iter()
        .filter(|(_, s)| s.is_some_and(|s| (200..300).contains(&s)))
        .map(|(n, _)| *n)
        .collect();
    let lost_answers = results.iter().filter(|(_, s)| s.is_none()).count();
    assert!(
        accepted.len() >= DELIVERIES / 4,
        "some were accepted before the kill ({})",
        accepted.len()
    );
    assert!(lost_answers > 0, "the kill happened mid-stream");

    // Start again: the spool drains what was accepted.
    let mut child = spawn(&config);
    wait_ready(&http, &base).await;
    drained(&http, &base).await;
    let client = temporal_client(&server.address, &namespace).await;
    for n in &accepted {
        let id = format!("deploy-payments-api-{n:040x}");
        let wf = workflow(&client, &id)
            .await
            .unwrap_or_else(|| panic!("accepted delivery {n} was lost"));
        assert_eq!(wf.starts, 1, "{id}");
    }

    // ADO retries everything it did not see answered with 2xx: afterwards
    // every delivery is exactly one workflow.
    for (n, status) in &results {
        if status.is_some_and(|s| (200..300).contains(&s)) {
            continue;
        }
        let s = send(&http, &base, *n).await.expect("answered");
        assert!((200..300).contains(&s), "retry of {n} answered {s}");
    }
    drained(&http, &base).await;
    for n in 1..=DELIVERIES {
        let id = format!("deploy-payments-api-{n:040x}");
        let wf = workflow(&client, &id)
            .await
            .unwrap_or_else(|| panic!("delivery {n} never arrived"));
        assert_eq!(wf.starts, 1, "{id}");
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}
