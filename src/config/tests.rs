use super::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write test file");
    p
}

fn basic_header(user_pass: &str) -> http::HeaderMap {
    use base64::Engine;
    let mut h = http::HeaderMap::new();
    let v = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_pass)
    );
    h.insert(http::header::AUTHORIZATION, v.parse().expect("header"));
    h
}

fn no_env(_: &str) -> Option<String> {
    None
}

const ISSUE_EXAMPLE: &str = r#"
listen: 127.0.0.1:18080
temporal:
  address: 127.0.0.1:17233
  namespace: default
mappings: [./rules]
dataDir: ./data
sources:
  - name: fabrikam
    auth:
      basic:
        username: ado-hooks
        password: ${HOME}-long-enough
"#;

#[test]
fn the_documented_example_loads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(dir.path(), "bridge.yaml", ISSUE_EXAMPLE);
    let c = Config::load_with_env(&p, no_env).expect("valid");
    assert_eq!(c.listen.to_string(), "127.0.0.1:18080");
    assert_eq!(c.temporal.address, "127.0.0.1:17233");
    assert_eq!(c.mappings, vec![dir.path().join("./rules")]);
    assert_eq!(c.data_dir, dir.path().join("./data"));
    let home = std::env::var("HOME").unwrap_or_default();
    let auth = basic_header(&format!("ado-hooks:{home}-long-enough"));
    assert!(c.sources[0].verifier.verify_headers(&auth).is_ok());
    assert!(c.temporal.tls.is_none());
}

#[test]
fn temporal_environment_variables_override_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(dir.path(), "bridge.yaml", ISSUE_EXAMPLE);
    let c = Config::load_with_env(&p, |n| match n {
        "TEMPORAL_ADDRESS" => Some("ns.tmprl.cloud:7233".into()),
        "TEMPORAL_NAMESPACE" => Some("prod".into()),
        "TEMPORAL_API_KEY" => Some("key".into()),
        _ => None,
    })
    .expect("valid");
    assert_eq!(c.temporal.address, "ns.tmprl.cloud:7233");
    assert_eq!(c.temporal.namespace, "prod");
    assert!(c.temporal.api_key.is_some());
    assert!(c.temporal.tls.is_some(), "an API key implies TLS");
}

#[test]
fn temporal_requests_are_uncompressed_unless_gzip_is_asked_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(dir.path(), "bridge.yaml", ISSUE_EXAMPLE);
    let c = Config::load_with_env(&p, no_env).expect("valid");
    assert_eq!(c.temporal.compression, Compression::None);
    let gzip = ISSUE_EXAMPLE.replace(
        "namespace: default",
        "namespace: default\n  compression: gzip",
    );
    let p = write(dir.path(), "bridge.yaml", &gzip);
    let c = Config::load_with_env(&p, no_env).expect("valid");
    assert_eq!(c.temporal.compression, Compression::Gzip);
    let zip = ISSUE_EXAMPLE.replace(
        "namespace: default",
        "namespace: default\n  compression: zip",
    );
    let p = write(dir.path(), "bridge.yaml", &zip);
    let err = Config::load_with_env(&p, no_env)
        .expect_err("invalid")
        .to_string();
    assert!(err.contains("none or gzip"), "{err}");
}

#[test]
fn unknown_fields_are_errors_with_line_numbers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = ISSUE_EXAMPLE.replace("dataDir", "dataDirectory");
    let p = write(dir.path(), "bridge.yaml", &text);
    let err = Config::load_with_env(&p, no_env)
        .expect_err("invalid")
        .to_string();
    assert!(err.contains("bridge.yaml"), "{err}");
    assert!(err.contains("dataDirectory"), "{err}");
    assert!(err.contains("line 7"), "{err}");
}

#[test]
fn a_missing_environment_variable_names_the_variable_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = ISSUE_EXAMPLE.replace("${HOME}", "${ATB_DEFINITELY_UNSET_PASSWORD}");
    let p = write(dir.path(), "bridge.yaml", &text);
    let err = Config::load_with_env(&p, no_env)
        .expect_err("invalid")
        .to_string();
    assert!(err.contains("ATB_DEFINITELY_UNSET_PASSWORD"), "{err}");
    assert!(err.contains("line 13"), "{err}");
}

#[test]
fn sources_are_validated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dup = format!(
        "{ISSUE_EXAMPLE}  - name: fabrikam\n    auth:\n      basic: {{username: u, password: long-enough}}\n"
    );
    let p = write(dir.path(), "a.yaml", &dup);
    let err = Config::load_with_env(&p, no_env)
        .expect_err("dup")
        .to_string();
    assert!(
        err.contains("sources[1].name") && err.contains("duplicate"),
        "{err}"
    );

    let noauth = ISSUE_EXAMPLE.replace(
        "    auth:\n      basic:\n        username: ado-hooks\n        password: ${HOME}-long-enough\n",
        "    auth: {}\n",
    );
    let p = write(dir.path(), "b.yaml", &noauth);
    let err = Config::load_with_env(&p, no_env)
        .expect_err("noauth")
        .to_string();
    assert!(
        err.contains("sources[0].auth") && err.contains("no verification"),
        "{err}"
    );

    let bad_name = ISSUE_EXAMPLE.replace("name: fabrikam", "name: Fab/rikam");
    let p = write(dir.path(), "c.yaml", &bad_name);
    let err = Config::load_with_env(&p, no_env)
        .expect_err("name")
        .to_string();
    assert!(err.contains("sources[0].name"), "{err}");
}

#[test]
fn password_file_is_read_and_trimmed() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "pw", "from-a-file-123\n");
    let text = ISSUE_EXAMPLE.replace("password: ${HOME}-long-enough", "passwordFile: pw");
    let p = write(dir.path(), "bridge.yaml", &text);
    let c = Config::load_with_env(&p, no_env).expect("valid");
    let auth = basic_header("ado-hooks:from-a-file-123");
    assert!(c.sources[0].verifier.verify_headers(&auth).is_ok());
    assert!(
        !format!("{c:?}").contains("from-a-file-123"),
        "Debug must not leak secrets"
    );
}

#[test]
fn the_scheduler_slice_is_the_kernels_unless_set_within_what_linux_grants() {
    let dir = tempfile::tempdir().expect("tempdir");
    let set = |value: &str| {
        let text = format!("schedulerSlice: {value}\n{ISSUE_EXAMPLE}");
        let p = write(dir.path(), "bridge.yaml", &text);
        Config::load_with_env(&p, no_env)
    };
    let p = write(dir.path(), "bridge.yaml", ISSUE_EXAMPLE);
    let c = Config::load_with_env(&p, no_env).expect("valid");
    assert_eq!(c.scheduler_slice, None);
    let us = |n| Some(Duration::from_micros(n));
    assert_eq!(set("100us").expect("valid").scheduler_slice, us(100));
    assert_eq!(set("1ms").expect("valid").scheduler_slice, us(1000));
    assert_eq!(set("100ms").expect("valid").scheduler_slice, us(100_000));
    assert_eq!(set("0s").expect("valid").scheduler_slice, None);
    for wrong in ["99us", "101ms", "1s", "fast"] {
        let err = set(wrong).expect_err(wrong).to_string();
        assert!(err.contains("schedulerSlice"), "{wrong}: {err}");
    }
}

#[test]
fn worker_threads_are_one_per_cpu_unless_set_within_bounds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(dir.path(), "bridge.yaml", ISSUE_EXAMPLE);
    let c = Config::load_with_env(&p, no_env).expect("valid");
    assert_eq!(c.worker_threads, None);
    let set = |value: &str| {
        let text = format!("workerThreads: {value}\n{ISSUE_EXAMPLE}");
        let p = write(dir.path(), "bridge.yaml", &text);
        Config::load_with_env(&p, no_env)
    };
    assert_eq!(set("1").expect("valid").worker_threads, Some(1));
    assert_eq!(set("256").expect("valid").worker_threads, Some(256));
    for wrong in ["0", "257", "-1", "two"] {
        let err = set(wrong).expect_err(wrong).to_string();
        assert!(err.contains("workerThreads"), "{wrong}: {err}");
    }
}
