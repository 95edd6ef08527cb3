//! The real binary: the documented config works as written, a bad config
//! stops it with a clear error, and SIGTERM stops it cleanly.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::support::{dev_server, free_port, shipped_mappings};

const BIN: &str = env!("CARGO_BIN_EXE_ado-temporal-bridge");

#[test]
fn a_bad_config_exits_64_naming_file_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bridge.yaml");
    std::fs::write(
        &path,
        "mappings: [./rules]\nsources:\n  - name: fabrikam\n    auth:\n      basic:\n        username: u\n        pasword: x\n",
    )
    .expect("write");
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bridge.yaml") && err.contains("pasword") && err.contains("line 7"),
        "{err}"
    );
}

/// The dynamic symbols `binary` imports.
fn imports(binary: &str) -> Vec<String> {
    use object::Object;
    let data = std::fs::read(binary).expect("read the binary");
    let file = object::File::parse(&*data).expect("an ELF executable");
    file.imports()
        .expect("its dynamic imports")
        .iter()
        .map(|i| String::from_utf8_lossy(i.name()).into_owned())
        .collect()
}

/// The bundled SQLite syncs each commit with `fdatasync`, as built with
/// `HAVE_FDATASYNC` (`.cargo/config.toml`). Without it SQLite calls
/// `fsync`, which also writes the WAL's inode whenever its modification
/// time moved on: on ext4 with a journal, a journal commit for most
/// commits. Nothing else in the bridge calls `fsync`, so importing it means
/// a build without the flag.
#[test]
fn commits_are_synced_with_fdatasync_not_fsync() {
    let imports = imports(BIN);
    assert!(
        imports.iter().any(|s| s == "fdatasync"),
        "the bridge does not import fdatasync: {imports:?}"
    );
    assert!(
        !imports.iter().any(|s| s == "fsync"),
        "the bridge imports fsync: SQLite was built without LIBSQLITE3_FLAGS=-DHAVE_FDATASYNC=1 (.cargo/config.toml)"
    );
}

/// The threads of a bridge started with `extra` in its config, by name
/// with the scheduler slice each has, once it answers `/healthz` (Temporal
/// is not needed for that).
fn threads_with(extra: &str) -> Vec<(String, Duration)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    std::fs::write(
        dir.path().join("bridge.yaml"),
        format!(
            "listen: 127.0.0.1:{port}\ntemporal: {{address: 127.0.0.1:1}}\nmappings: [{}]\ndataDir: ./data\n{extra}sources:\n  - name: fabrikam\n    auth: {{basic: {{username: u, password: long-enough}}}}\n",
            shipped_mappings().display()
        ),
    )
    .expect("write");
    let mut child = Command::new(BIN)
        .args(["serve", "--config", "bridge.yaml"])
        .current_dir(dir.path())
        // Not read by the bridge: `workerThreads` or one per CPU.
        .env(
            "TOKIO_WORKER_THREADS",
            (std::thread::available_parallelism().map_or(1, usize::from) + 2).to_string(),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawns");
    let start = Instant::now();
    let mut alive = false;
    while !alive && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut resp = String::new();
            let _ = s.read_to_string(&mut resp);
            alive = resp.starts_with("HTTP/1.1 200");
        }
    }
    let tasks = std::fs::read_dir(format!("/proc/{}/task", child.id())).expect("threads");
    let threads = tasks
        .filter_map(|t| {
            let t = t.ok()?;
            let name = std::fs::read_to_string(t.path().join("comm")).ok()?;
            let tid = t.file_name().to_str()?.parse().ok()?;
            let slice = ado_temporal_bridge::sched::slice(tid).ok()?;
            Some((name.trim().to_owned(), slice))
        })
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    assert!(alive, "the bridge answered /healthz");
    threads
}

/// The runtime threads of a bridge started with `extra` in its config.
fn runtime_threads_with(extra: &str) -> usize {
    // tokio gives its blocking threads the same name: this bridge has none
    // yet (its Temporal address needs no DNS lookup).
    threads_with(extra)
        .iter()
        .filter(|(name, _)| name == "tokio-rt-worker")
        .count()
}

#[test]
fn scheduler_slice_is_what_every_thread_asks_for() {
    let asked = Duration::from_micros(150);
    let supported = std::thread::spawn(move || {
        ado_temporal_bridge::sched::set_slice(0, Some(asked))
            .map_err(|e| assert_eq!(e.kind(), std::io::ErrorKind::Unsupported, "{e}"))
            .is_ok()
    })
    .join()
    .expect("probe");
    let with = threads_with("schedulerSlice: 150us\n");
    let without = threads_with("");
    assert!(with.len() >= 4, "main, workers, store threads: {with:?}");
    if supported {
        assert!(with.iter().all(|(_, s)| *s == asked), "{with:?}");
        assert!(without.iter().all(|(_, s)| *s != asked), "{without:?}");
    } else {
        // Where the kernel keeps no slice, the bridge runs as it would
        // without the setting.
        assert_eq!(with.len(), without.len());
    }
}

#[test]
fn worker_threads_sets_how_many_threads_serve() {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(runtime_threads_with(""), cpus, "one per CPU by default");
    // A count the default cannot give.
    let asked = if cpus < ado_temporal_bridge::config::MAX_WORKER_THREADS {
        cpus + 1
    } else {
        cpus - 1
    };
    assert_eq!(
        runtime_threads_with(&format!("workerThreads: {asked}\n")),
        asked
    );
    assert_eq!(runtime_threads_with("workerThreads: 1\n"), 1);
}

#[test]
fn check_validates_the_shipped_mappings_and_reports_rule_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("bridge.yaml");
    let write = |mappings: &std::path::Path| {
        std::fs::write(
            &config,
            format!(
                "mappings: [{}]\nsources:\n  - name: fabrikam\n    auth:\n      basic: {{username: u, password: long-enough-pw}}\n",
                mappings.display()
            ),
        )
        .expect("write");
    };
    write(&shipped_mappings());
    let out = Command::new(BIN)
        .args(["check", "--run-tests", "--config"])
        .arg(&config)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("3 rule(s)"), "{stdout}");
    assert!(
        stdout.contains("rule tests: 6 passed, 0 failed"),
        "{stdout}"
    );

    let rules = dir.path().join("bad.yaml");
    std::fs::write(&rules, "version: 1\nrules:\n  - name: r\n    events: [git.push]\n    when: ado.branch = 'x'\n    signal: {workflowId: w, signalName: s}\n").expect("write");
    write(&rules);
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yaml") && err.contains("\"r\"") && err.contains("when"),
        "{err}"
    );
}

#[test]
fn the_documented_config_serves_and_sigterm_stops_it_cleanly() {
    let server = dev_server();
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    std::fs::create_dir(dir.path().join("rules")).expect("mkdir");
    for entry in std::fs::read_dir(shipped_mappings()).expect("mappings") {
        let entry = entry.expect("entry");
        std::fs::copy(
            entry.path(),
            dir.path().join("rules").join(entry.file_name()),
        )
        .expect("copy");
    }
    // The configuration exactly as the README documents it, with the
    // addresses of this test's servers.
    let config = format!(
        "listen: 127.0.0.1:{port}\ntemporal:\n  address: {}\n  namespace: default\nmappings: [./rules]\ndataDir: ./data\nsources:\n  - name: fabrikam\n    auth:\n      basic:\n        username: ado-hooks\n        password: ${{ADO_HOOK_PASSWORD}}\n",
        server.address
    );
    std::fs::write(dir.path().join("bridge.yaml"), config).expect("write");
    let mut child = Command::new(BIN)
        .args(["serve", "--config", "bridge.yaml"])
        .current_dir(dir.path())
        .env("ADO_HOOK_PASSWORD", "documented-example-password")
        .env("BRIDGE_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    let start = Instant::now();
    let mut ready = false;
    while start.elapsed() < Duration::from_secs(30) {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut resp = String::new();
            let _ = s.read_to_string(&mut resp);
            if resp.starts_with("HTTP/1.1 200") {
                ready = true;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ready, "the bridge became ready");
    assert!(
        dir.path().join("data/bridge.sqlite3").exists(),
        "dataDir is relative to the config file"
    );
    // One accepted and one refused delivery, so the logs have something to say.
    let mut accepted_correlation_id = String::new();
    let body = std::fs::read(crate::support::fixture_path("git.push.json")).expect("fixture");
    for password in ["documented-example-password", "wrong-password-guess"] {
        use base64::Engine;
        use std::io::{Read, Write};
        let auth =
            base64::engine::general_purpose::STANDARD.encode(format!("ado-hooks:{password}"));
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let head = format!(
            "POST /webhooks/fabrikam HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).expect("write");
        s.write_all(&body).expect("write");
        let mut resp = String::new();
        let _ = s.read_to_string(&mut resp);
        let expected = if password.starts_with("wrong") {
            "HTTP/1.1 401"
        } else {
            "HTTP/1.1 20"
        };
        assert!(resp.starts_with(expected), "{resp}");
        if !password.starts_with("wrong") {
            let answer: serde_json::Value =
                serde_json::from_str(resp.split("\r\n\r\n").nth(1).unwrap_or_default())
                    .expect("the answer is JSON");
            accepted_correlation_id = answer["correlationId"]
                .as_str()
                .expect("the answer has a correlation id")
                .to_owned();
        }
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let start = Instant::now();
    let exit = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(25),
            "stopped within the drain time"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "clean exit: {exit:?}");
    let mut logs = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut logs)
        .expect("logs");
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .all(|l| l["timestamp"].is_string() && l["level"].is_string()),
        "every line has a time and a level: {logs}"
    );
    // The Temporal call's line carries the delivery's correlation id, also
    // when the call was made while answering, under a span inside the
    // delivery's.
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "Temporal accepted the action"
                && l["span"]["correlation_id"] == accepted_correlation_id.as_str()),
        "the Temporal call of delivery {accepted_correlation_id} is logged with its id: {logs}"
    );
    assert!(
        logs.contains("verification failed"),
        "the refusal is logged: {logs}"
    );
    for secret in [
        "documented-example-password",
        "wrong-password-guess",
        "YWRvLWhvb2tzOmRvY3VtZW50ZWQtZXhhbXBsZS1wYXNzd29yZA==",
    ] {
        assert!(!logs.contains(secret), "{secret} reached the logs");
    }
}

#[test]
fn check_finds_typos_and_failing_rule_tests() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("bridge.yaml");
    std::fs::write(
        &config,
        "mappings: [rules]\nsources:\n  - name: fabrikam\n    auth:\n      basic: {username: u, password: long-enough-pw}\n",
    )
    .expect("write");
    std::fs::create_dir(dir.path().join("rules")).expect("mkdir");
    let rules = dir.path().join("rules/r.yaml");
    let check = |run_tests: bool| {
        let mut cmd = Command::new(BIN);
        cmd.args(["check", "--config"]).arg(&config);
        if run_tests {
            cmd.arg("--run-tests");
        }
        cmd.output().expect("runs")
    };

    // A field the ado view does not have.
    std::fs::write(&rules, "version: 1\nrules:\n  - name: r\n    events: [git.push]\n    when: ado.comit.id != ''\n    signal: {workflowId: w, signalName: s}\n").expect("write");
    let out = check(false);
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ado.comit") && err.contains("commit"), "{err}");

    // A misspelt event type: a warning with a guess.
    std::fs::write(&rules, "version: 1\nrules:\n  - name: r\n    events: [git.pus]\n    signal: {workflowId: 'w-${{ ado.commit.id }}', signalName: s}\n").expect("write");
    let out = check(false);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("did you mean \"git.push\""), "{stdout}");

    // A rule test whose expectation the rule does not meet.
    std::fs::write(
        &rules,
        "version: 1\nrules:\n  - name: r\n    events: [git.push]\n    when: ado.branch == 'main'\n    signal: {workflowId: 'w-${{ ado.branch }}', signalName: s}\n\
         tests:\n  - name: main signals\n    event: {id: e1, eventType: git.push, resource: {refUpdates: [{name: refs/heads/develop}]}}\n    expect:\n      actions: [{rule: r, workflowId: w-main}]\n",
    )
    .expect("write");
    let out = check(true);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("FAIL")
            && stdout.contains("main signals")
            && stdout.contains("`when` is false"),
        "{stdout}"
    );
}

#[test]
fn test_shows_decisions_and_actions_without_temporal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("bridge.yaml");
    std::fs::write(
        &config,
        format!(
            "mappings: [{}]\nsources:\n  - name: fabrikam\n    auth:\n      basic: {{username: u, password: long-enough-pw}}\n",
            shipped_mappings().display()
        ),
    )
    .expect("write");
    let run = |json: bool| {
        let mut cmd = Command::new(BIN);
        cmd.args(["test", "--config"]).arg(&config);
        if json {
            cmd.arg("--json");
        }
        cmd.arg(crate::support::fixture_path("git.push.json"))
            .arg(crate::support::fixture_path("git.push.skip-deploy.json"));
        cmd.output().expect("runs")
    };
    let out = run(false);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("MATCH      deploy-main"), "{text}");
    assert!(
        text.contains("=> start deploy-payments-api-546c2aad0d0cf7bbabe3f8426df2c9a870c5c912"),
        "{text}"
    );
    assert!(
        text.contains("`when` is false") && text.contains("nothing would be sent"),
        "{text}"
    );

    let out = run(true);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v[0]["actions"][0]["workflowType"], "DeployService");
    assert_eq!(v[0]["ado"]["branch"], "main");
    assert_eq!(v[1]["actions"].as_array().map(Vec::len), Some(0));
}
