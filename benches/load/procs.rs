//! The processes a load run starts: Temporal dev servers and bridges, each
//! killed when dropped, and what `/proc` says about them (RSS, CPU time).

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A `/proc/PID/status` field in KiB (`VmRSS`, `VmHWM`, `RssAnon`).
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// User + system CPU seconds a process has used (`/proc/PID/stat`), or
/// `self` for this process.
pub fn cpu_seconds(pid: &str) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces).
    let rest = text.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    (ticks(11) + ticks(12)) / 100.0
}

/// Waits (at most `limit`) until process `pid` uses under a tenth of a
/// core over 200 ms. A fresh dev server keeps initializing for a second or
/// so after its port opens; a phase started meanwhile would pay for it.
fn wait_until_quiet(pid: &str, limit: Duration) {
    let window = Duration::from_millis(200);
    let deadline = Instant::now() + limit;
    let mut before = cpu_seconds(pid);
    while Instant::now() < deadline {
        std::thread::sleep(window);
        let now = cpu_seconds(pid);
        if now - before < 0.1 * window.as_secs_f64() {
            return;
        }
        before = now;
    }
}

/// The 1-minute load average.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn wait_for_port(address: &str, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if std::net::TcpStream::connect(address).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A `temporal server start-dev` of this run's own (in-memory).
pub struct TemporalServer {
    /// `host:port` of the frontend.
    pub address: String,
    child: Child,
}

impl TemporalServer {
    /// Starts a dev server on `port` with `namespaces` registered, and waits
    /// until it listens and is quiet. A server that exits meanwhile (one of
    /// the ports it picks for itself taken in between) is started again on
    /// other ports, up to three times.
    pub fn start(cli: &str, port: u16, namespaces: &[&str]) -> Self {
        Self::start_on(cli, port, namespaces, None)
    }

    /// [`TemporalServer::start`] on the CPUs `cpus` (a `taskset` list) only.
    pub fn start_on(cli: &str, port: u16, namespaces: &[&str], cpus: Option<&str>) -> Self {
        let mut port = port;
        for attempt in 1..=3 {
            let mut server = Self::start_once(cli, port, namespaces, cpus);
            if server.child.try_wait().ok().flatten().is_none()
                && std::net::TcpStream::connect(&server.address).is_ok()
            {
                return server;
            }
            eprintln!(
                "Temporal dev server on {} exited after start (attempt {attempt}); starting another",
                server.address
            );
            port = free_port();
        }
        panic!("no Temporal dev server stayed up in three attempts");
    }

    fn start_once(cli: &str, port: u16, namespaces: &[&str], cpus: Option<&str>) -> Self {
        let mut cmd = on_cpus(cli, cpus);
        cmd.args(["server", "start-dev", "--headless", "--ip", "127.0.0.1"])
            .args(["--port", &port.to_string()])
            .args(["--http-port", &free_port().to_string()])
            .args(["--metrics-port", &free_port().to_string()])
            .args(["--log-level", "error"]);
        for ns in namespaces {
            cmd.args(["--namespace", ns]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the temporal CLI (scripts/ensure-temporal)");
        let address = format!("127.0.0.1:{port}");
        assert!(
            wait_for_port(&address, Duration::from_secs(60)),
            "Temporal dev server did not listen on {address}"
        );
        wait_until_quiet(&child.id().to_string(), Duration::from_secs(15));
        Self { address, child }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for TemporalServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a bridge is configured for one phase.
pub struct BridgeSetup<'a> {
    /// Temporal frontend.
    pub temporal: &'a str,
    /// Namespace.
    pub namespace: &'a str,
    /// `durable` or `direct`.
    pub delivery: &'a str,
    /// `spool.groupCommit`.
    pub group_commit: bool,
    /// The rule file.
    pub rules: &'a Path,
    /// `spool.fastPathWait`.
    pub fast_path_wait: &'a str,
    /// `workerThreads`, or the bridge's default (one per CPU).
    pub worker_threads: Option<usize>,
    /// `schedulerSlice`, or the kernel's default.
    pub scheduler_slice: Option<&'a str>,
    /// The CPUs the bridge may use (a `taskset` list), or all.
    pub cpus: Option<&'a str>,
}

/// `program`, confined to the CPUs `cpus` (a `taskset` list) when given;
/// its children inherit them. `taskset` execs it: the pid is the program's.
fn on_cpus(program: impl AsRef<std::ffi::OsStr>, cpus: Option<&str>) -> Command {
    match cpus {
        Some(list) => {
            let mut cmd = Command::new("taskset");
            cmd.args(["--cpu-list", list]).arg(program);
            cmd
        }
        None => Command::new(program),
    }
}

/// The CPUs this process may use, as `/proc/self/status` lists them
/// (`0-1`, `0,2-5` ...).
fn allowed_cpus() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .map(|v| v.trim().to_owned())
        })
        .expect("Cpus_allowed_list in /proc/self/status")
}

/// Two CPUs of this machine, one for Temporal and one for the rest.
#[derive(Clone, Debug)]
pub struct CpuSplit {
    /// Temporal's (a `taskset` list of one).
    pub temporal: String,
    /// The bridge's, the generator's and the client loop's.
    pub rest: String,
}

/// The first two CPUs this process may use: the bridge and the generator
/// on the first, Temporal on the second; `None` on a machine with one.
pub fn split_cpus() -> Option<CpuSplit> {
    let allowed = allowed_cpus();
    let mut cpus = allowed.split(',').flat_map(|part| {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (u32, u32) = (a.parse().unwrap_or(0), b.parse().unwrap_or(0));
        a..=b
    });
    let rest = cpus.next()?.to_string();
    let temporal = cpus.next()?.to_string();
    Some(CpuSplit { temporal, rest })
}

fn set_affinity(cpus: &str) {
    let status = Command::new("taskset")
        .args(["--all-tasks", "--pid", "--cpu-list", cpus])
        .arg(std::process::id().to_string())
        .stdout(Stdio::null())
        .status()
        .expect("taskset (util-linux)");
    assert!(status.success(), "taskset failed: {status}");
}

/// Every thread of this process (the load generator) confined to some
/// CPUs, until dropped.
pub struct Confined(String);

impl Confined {
    /// Confines this process to `cpus` (a `taskset` list).
    pub fn to(cpus: &str) -> Self {
        let before = allowed_cpus();
        set_affinity(cpus);
        Self(before)
    }
}

impl Drop for Confined {
    fn drop(&mut self) {
        set_affinity(&self.0);
    }
}

/// Every thread of this process (the load generator) put ahead of the
/// bridge and Temporal until dropped: the generator stands in for ADO,
/// which has CPUs of its own, and with Temporal busy on the same CPUs its
/// threads would otherwise wait for a CPU each time they wake to send or
/// to read an answer, and that wait would count as the bridge's latency.
/// Where the process may (as root), the threads get the real-time policy
/// `SCHED_FIFO` at its lowest priority, so they run as soon as they wake;
/// elsewhere the shortest scheduler slice, which only shortens the wait.
/// Threads started meanwhile inherit either, and are given the default
/// back too. Where the kernel grants neither, nothing changes (the send
/// lag then shows it).
pub struct Prompt {
    /// Whether the threads are real-time (else they have short slices).
    pub real_time: bool,
}

impl Prompt {
    /// Every thread of this process runs as soon as it can.
    pub fn now() -> Self {
        let real_time = each_thread(|tid| fifo::set(tid, true));
        if !real_time {
            // A grant for some threads only is taken back: the run's
            // report would not say that part of the generator had it.
            each_thread(|tid| fifo::set(tid, false));
            each_thread(|tid| {
                ado_temporal_bridge::sched::set_slice(
                    tid,
                    Some(ado_temporal_bridge::sched::MIN_SLICE),
                )
            });
        }
        Self { real_time }
    }
}

impl Drop for Prompt {
    fn drop(&mut self) {
        if self.real_time {
            each_thread(|tid| fifo::set(tid, false));
        } else {
            each_thread(|tid| ado_temporal_bridge::sched::set_slice(tid, None));
        }
    }
}

/// Calls `f` for every thread of this process; whether it succeeded for
/// every one (a thread that ended meanwhile does not count).
fn each_thread(f: impl Fn(i32) -> std::io::Result<()>) -> bool {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return false;
    };
    let mut all = true;
    for tid in tasks.filter_map(|t| t.ok()?.file_name().to_str()?.parse().ok()) {
        all &= f(tid).map_or_else(|e| e.raw_os_error() == Some(libc::ESRCH), |()| true);
    }
    all
}

/// The real-time policy for the generator's threads. (The bridge's own
/// scheduling, the slice, is `ado_temporal_bridge::sched`.)
#[allow(unsafe_code)]
mod fifo {
    /// Puts thread `tid` under `SCHED_FIFO` at its lowest priority, or
    /// back under the normal policy.
    pub fn set(tid: i32, on: bool) -> std::io::Result<()> {
        let (policy, priority) = if on {
            // SAFETY: no arguments; returns the policy's lowest priority.
            (libc::SCHED_FIFO, unsafe {
                libc::sched_get_priority_min(libc::SCHED_FIFO)
            })
        } else {
            (libc::SCHED_OTHER, 0)
        };
        let param = libc::sched_param {
            sched_priority: priority,
        };
        // SAFETY: `param` outlives the call, which only reads it.
        let r = unsafe { libc::sched_setscheduler(tid, policy, &raw const param) };
        if r == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

/// A Temporal address nobody listens on (a free port).
pub fn unreachable_address() -> String {
    format!("127.0.0.1:{}", free_port())
}

impl<'a> BridgeSetup<'a> {
    /// The defaults: durable, group commit, a 300 ms fast path, namespace
    /// `bench`.
    pub fn durable(temporal: &'a str, rules: &'a Path) -> Self {
        Self {
            temporal,
            namespace: "bench",
            delivery: "durable",
            group_commit: true,
            rules,
            fast_path_wait: "300ms",
            worker_threads: None,
            scheduler_slice: None,
            cpus: None,
        }
    }
}

/// A bridge process (the release binary) on a free port.
pub struct Bridge {
    /// `http://127.0.0.1:port`.
    pub base: String,
    child: Child,
    /// How long from spawn to the first `/readyz` 200.
    pub startup: Duration,
    _dir: tempfile::TempDir,
}

/// Basic credentials of the benchmark source.
pub const USER: &str = "ado-hooks";
/// Password of the benchmark source.
pub const PASSWORD: &str = "a-long-random-benchmark-password";

/// The bench bridges' admin API token.
const ADMIN_TOKEN: &str = "bench-admin-token";

impl Bridge {
    /// Writes a config for `setup`, starts the bridge and waits for
    /// `/readyz` (durable mode is ready without Temporal).
    pub async fn start(setup: &BridgeSetup<'_>, http: &reqwest::Client) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let config = dir.path().join("bridge.yaml");
        let text = format!(
            "listen: 127.0.0.1:{port}\n\
             temporal: {{address: '{temporal}', namespace: {ns}, callTimeout: 5s, compression: {compression}}}\n\
             mappings: ['{rules}']\n\
             dataDir: '{data}'\n\
             delivery: {delivery}\n\
             spool: {{groupCommit: {gc}, fastPathWait: {fpw}}}\n\
             log: {{format: json, level: info}}\n\
             admin: {{token: {ADMIN_TOKEN}}}\n\
             {threads}\
             {slice}\
             sources:\n  - name: bench\n    auth:\n      basic: {{username: {USER}, password: {PASSWORD}}}\n",
            temporal = setup.temporal,
            ns = setup.namespace,
            rules = setup.rules.display(),
            data = dir.path().join("data").display(),
            delivery = setup.delivery,
            gc = setup.group_commit,
            fpw = setup.fast_path_wait,
            compression = compression(),
            threads = setup
                .worker_threads
                .map_or(String::new(), |n| format!("workerThreads: {n}\n")),
            slice = setup
                .scheduler_slice
                .map_or(String::new(), |s| format!("schedulerSlice: {s}\n")),
        );
        std::fs::write(&config, text).expect("write config");
        let started = Instant::now();
        let child = on_cpus(binary(), setup.cpus)
            .args(["serve", "--config"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the bridge");
        let base = format!("http://127.0.0.1:{port}");
        let ready = format!("{base}/readyz");
        loop {
            if let Ok(r) = http.get(&ready).send().await
                && r.status() == 200
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "bridge not ready within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Self {
            base,
            child,
            startup: started.elapsed(),
            _dir: dir,
        }
    }

    /// How long a GET of `path` takes (the median of 9, ms), with the
    /// admin token.
    pub async fn get_ms(&self, http: &reqwest::Client, path: &str) -> f64 {
        let mut ms = Vec::with_capacity(9);
        for _ in 0..9 {
            ms.push(self.get(http, path).await);
        }
        ms.sort_by(f64::total_cmp);
        ms[ms.len() / 2]
    }

    /// One GET of `path` with the admin token, ms. Every answer must be a
    /// success: a refusal is quick, and would pass for a fast answer.
    pub async fn get(&self, http: &reqwest::Client, path: &str) -> f64 {
        let start = Instant::now();
        let answer = http
            .get(format!("{}{path}", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("the bridge answers");
        assert!(answer.status().is_success(), "{path}: {}", answer.status());
        answer.bytes().await.expect("the whole answer");
        start.elapsed().as_secs_f64() * 1e3
    }

    /// The bridge's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident set size now, MiB.
    pub fn rss_mib(&self) -> f64 {
        status_kib(self.pid(), "VmRSS") as f64 / 1024.0
    }

    /// Of the resident set, the process's own memory (`RssAnon`), MiB:
    /// the rest is mapped files, above all the executable's own pages.
    pub fn anon_rss_mib(&self) -> f64 {
        status_kib(self.pid(), "RssAnon") as f64 / 1024.0
    }

    /// Peak resident set size, MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        status_kib(self.pid(), "VmHWM") as f64 / 1024.0
    }

    /// CPU seconds used so far.
    pub fn cpu(&self) -> f64 {
        cpu_seconds(&self.pid().to_string())
    }

    /// `/readyz` as JSON.
    pub async fn readyz(&self, http: &reqwest::Client) -> serde_json::Value {
        match http.get(format!("{}/readyz", self.base)).send().await {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(_) => serde_json::Value::Null,
        }
    }

    /// Temporal calls the bridge made so far (its own metrics).
    pub async fn temporal_calls(&self, http: &reqwest::Client) -> u64 {
        let text = match http.get(format!("{}/metrics", self.base)).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        text.lines()
            .filter(|l| l.starts_with("ado_bridge_temporal_call_duration_seconds_count"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    /// Actions waiting in the spool.
    pub async fn pending(&self, http: &reqwest::Client) -> i64 {
        self.readyz(http).await["spool"]["pending"]
            .as_i64()
            .unwrap_or(-1)
    }

    /// Waits until the spool is empty; returns how long that took.
    pub async fn drained(&self, http: &reqwest::Client, timeout: Duration) -> Duration {
        let start = Instant::now();
        while self.pending(http).await != 0 {
            assert!(
                start.elapsed() < timeout,
                "spool not drained in {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        start.elapsed()
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `temporal.compression` of the bridges and the direct client:
/// `BENCH_COMPRESSION` (`none`, the bridge's default, or `gzip`).
pub fn compression() -> String {
    std::env::var("BENCH_COMPRESSION").unwrap_or_else(|_| "none".into())
}

/// The release binary cargo built for this benchmark.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ado-temporal-bridge"))
}

/// `DIR/<phase>.csv` when `BENCH_LATENCIES` names a directory: where a
/// fixed-rate phase writes each request's timings.
pub fn latencies_file(phase: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("BENCH_LATENCIES")?;
    Some(Path::new(&dir).join(format!("{}.csv", file_name(phase))))
}

/// A phase's name as a file name.
fn file_name(phase: &str) -> String {
    phase.replace([' ', ',', '(', ')'], "_")
}

/// `perf record` of one process while a phase runs, when `BENCH_PERF`
/// names a directory (`perf report -i DIR/<phase>.perf.data`).
pub struct Profiler(Option<Child>);

impl Profiler {
    /// Starts recording `pid` (call graphs from DWARF: release builds have
    /// no frame pointers).
    pub fn start(pid: u32, phase: &str) -> Self {
        let Some(dir) = std::env::var_os("BENCH_PERF") else {
            return Self(None);
        };
        let file = Path::new(&dir).join(format!("{}.perf.data", file_name(phase)));
        let child = Command::new("perf")
            .args(["record", "-F", "499", "--call-graph", "dwarf,16384", "-o"])
            .arg(file)
            .args(["-p", &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok();
        std::thread::sleep(Duration::from_millis(300));
        Self(child)
    }
}

impl Drop for Profiler {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            // perf writes its file on SIGINT.
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}
