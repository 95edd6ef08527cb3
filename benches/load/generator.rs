//! The load generator: distinct deliveries POSTed over loopback, closed
//! loop at a fixed concurrency or open loop at a fixed rate, latencies in
//! an HDR histogram. Bodies are spliced from pre-serialized pieces, so
//! making one costs a memcpy, not a JSON serialization.

use std::{
    collections::BTreeMap,
    fmt::Write,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::{procs, workload};

/// A delivery body with holes for the per-delivery fields.
pub struct Bodies {
    /// Text before each hole, and which field the hole takes.
    pieces: Vec<(String, Option<Field>)>,
    /// Bytes of one body.
    pub size: usize,
}

#[derive(Clone, Copy)]
enum Field {
    Id,
    Notification,
    Sha,
}

const HOLES: [(&str, Field); 3] = [
    ("\"@@ID@@\"", Field::Id),
    ("\"@@NOTIFICATION@@\"", Field::Notification),
    ("\"@@SHA@@\"", Field::Sha),
];

impl Bodies {
    /// Pushes to `branch`; delivery `n` gets its own event id, notification
    /// id and commit.
    pub fn push(branch: &str) -> Self {
        let mut p = workload::push(&workload::push_template(), 0, branch);
        p["id"] = Value::String("@@ID@@".into());
        p["notificationId"] = Value::String("@@NOTIFICATION@@".into());
        p["resource"]["refUpdates"][0]["newObjectId"] = Value::String("@@SHA@@".into());
        p["resource"]["commits"][0]["commitId"] = Value::String("@@SHA@@".into());
        let mut rest = serde_json::to_string(&p).expect("json");
        let mut pieces = Vec::new();
        while let Some((at, marker, field)) = HOLES
            .iter()
            .filter_map(|(m, f)| rest.find(m).map(|at| (at, *m, *f)))
            .min_by_key(|(at, _, _)| *at)
        {
            pieces.push((rest[..at].to_owned(), Some(field)));
            rest = rest[at + marker.len()..].to_owned();
        }
        pieces.push((rest, None));
        assert_eq!(pieces.len(), 5, "four holes");
        let mut b = Self { pieces, size: 0 };
        b.size = b.body(0).len();
        let spliced: Value = serde_json::from_slice(&b.body(3)).expect("spliced body is JSON");
        assert_eq!(
            spliced,
            workload::push(&workload::push_template(), 3, branch)
        );
        b
    }

    /// Body of delivery `n`, identical to `workload::push(.., n, ..)`.
    pub fn body(&self, n: u64) -> Bytes {
        let mut out = String::with_capacity(self.size + 64);
        for (piece, field) in &self.pieces {
            out.push_str(piece);
            let _ = match field {
                Some(Field::Id) => write!(out, "\"be0c4a2e-0000-4000-8000-{n:012}\""),
                Some(Field::Notification) => write!(out, "{}", 1_000_000 + n),
                Some(Field::Sha) => write!(out, "\"{:040x}\"", n + 1),
                None => Ok(()),
            };
        }
        Bytes::from(out)
    }
}

/// What one load phase measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadResult {
    /// Requests sent.
    pub requests: u64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Requests per second.
    pub per_second: f64,
    /// Latency percentiles, milliseconds.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
    /// Answers by HTTP status (`error` for transport errors).
    pub statuses: BTreeMap<String, u64>,
    /// CPU seconds this process (the generator) used meanwhile.
    pub generator_cpu_s: f64,
    /// At a fixed rate: how late the requests went out (from when each was
    /// due to when its task began to send it), a share of every latency.
    pub send_lag: Option<SendLag>,
}

/// How late an open loop's requests went out, milliseconds, and the
/// latency without it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SendLag {
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Latest.
    pub max_ms: f64,
    /// 99th percentile of the latency counted from when each request began
    /// to be sent rather than from when it was due: the generator's own
    /// lateness left out. A stalled bridge still counts in full, since the
    /// generator sends on (on new connections) whatever the answers do.
    pub p99_from_send_ms: f64,
    /// Whether the generator's threads ran under the real-time policy
    /// (else with the shortest slice; see [`procs::Prompt`]).
    pub real_time: bool,
}

impl SendLag {
    fn of(lags: &Histogram<u64>, from_send: &Histogram<u64>, real_time: bool) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            p50_ms: ms(lags.value_at_quantile(0.50)),
            p99_ms: ms(lags.value_at_quantile(0.99)),
            max_ms: ms(lags.max()),
            p99_from_send_ms: ms(from_send.value_at_quantile(0.99)),
            real_time,
        }
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("histogram bounds")
}

fn summarize(
    hist: &Histogram<u64>,
    statuses: BTreeMap<String, u64>,
    elapsed: Duration,
    cpu: f64,
) -> LoadResult {
    let ms = |us: u64| us as f64 / 1000.0;
    let requests = hist.len();
    LoadResult {
        requests,
        seconds: elapsed.as_secs_f64(),
        per_second: requests as f64 / elapsed.as_secs_f64(),
        p50_ms: ms(hist.value_at_quantile(0.50)),
        p90_ms: ms(hist.value_at_quantile(0.90)),
        p99_ms: ms(hist.value_at_quantile(0.99)),
        max_ms: ms(hist.max()),
        statuses,
        generator_cpu_s: procs::cpu_seconds("self") - cpu,
        send_lag: None,
    }
}

/// Where and what to send.
#[derive(Clone)]
pub struct Target {
    /// Full URL.
    pub url: String,
    /// `Authorization` value.
    pub auth: String,
    /// Bodies.
    pub bodies: Arc<Bodies>,
    /// First delivery number; a phase uses `first..first + n`.
    pub first: u64,
}

/// One keep-alive HTTP/1.1 connection of a closed-loop worker: plain
/// hyper, no pool, so the generator spends as little CPU as it can.
struct Connection {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    uri: hyper::Uri,
    host: String,
}

impl Connection {
    async fn open(url: &str) -> Self {
        let uri: hyper::Uri = url.parse().expect("url");
        let host = uri.authority().expect("host:port").to_string();
        let stream = tokio::net::TcpStream::connect(&host)
            .await
            .expect("connect");
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        Self { sender, uri, host }
    }

    async fn send(&mut self, t: &Target, n: u64) -> String {
        let req = hyper::Request::post(self.uri.clone())
            .header("host", &self.host)
            .header("authorization", &t.auth)
            .header("content-type", "application/json")
            .body(Full::new(t.bodies.body(t.first + n)))
            .expect("request");
        if self.sender.ready().await.is_err() {
            return "error".into();
        }
        match self.sender.send_request(req).await {
            Ok(r) => {
                let status = r.status().as_u16().to_string();
                let _ = r.into_body().collect().await;
                status
            }
            Err(_) => "error".into(),
        }
    }
}

/// Sends `n` deliveries with `concurrency` in flight at all times, one
/// connection per worker (as ADO's senders keep theirs).
pub async fn closed_loop(target: &Target, n: u64, concurrency: usize) -> LoadResult {
    let next = Arc::new(AtomicU64::new(0));
    let mut connections = Vec::new();
    for _ in 0..concurrency {
        connections.push(Connection::open(&target.url).await);
    }
    let cpu = procs::cpu_seconds("self");
    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for mut conn in connections {
        let (t, next) = (target.clone(), Arc::clone(&next));
        workers.spawn(async move {
            let mut hist = histogram();
            let mut statuses = BTreeMap::<String, u64>::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return (hist, statuses);
                }
                let began = Instant::now();
                let status = conn.send(&t, i).await;
                let _ = hist.record(began.elapsed().as_micros().max(1) as u64);
                *statuses.entry(status).or_default() += 1;
            }
        });
    }
    let mut hist = histogram();
    let mut statuses = BTreeMap::new();
    while let Some(done) = workers.join_next().await {
        let (h, s) = done.expect("worker");
        hist.add(&h).expect("same bounds");
        for (k, v) in s {
            *statuses.entry(k).or_default() += v;
        }
    }
    summarize(&hist, statuses, start.elapsed(), cpu)
}

/// Sends `n` deliveries at `rate` per second whatever the answers' speed;
/// each latency counts from the moment the request was due, so a stall is
/// not hidden by requests that were never sent (coordinated omission).
/// Connections are opened up front (`warm`) and reused; a request that
/// finds none idle opens another, as a real sender would.
///
/// The requests are released by a thread of their own that sleeps with
/// the kernel's high-resolution timer: tokio's timer rounds every deadline
/// up to its next millisecond tick, which alone made each request about a
/// millisecond late, and that lateness counted as the bridge's latency.
/// How late the requests still went out is measured and reported
/// ([`LoadResult::send_lag`]). Meanwhile the generator's threads run as
/// soon as they wake ([`procs::Prompt`]).
///
/// With `latencies`, every request's timings are written there as CSV, in
/// the order the requests were due (see [`write_latencies`]).
pub async fn open_loop(
    target: &Target,
    n: u64,
    rate: f64,
    warm: usize,
    latencies: Option<&std::path::Path>,
) -> LoadResult {
    let idle = Arc::new(std::sync::Mutex::new(Vec::new()));
    for _ in 0..warm {
        let conn = Connection::open(&target.url).await;
        idle.lock().expect("pool").push(conn);
    }
    let cpu = procs::cpu_seconds("self");
    let prompt = procs::Prompt::now();
    let answers = Arc::new(Answers::new(n));
    let runtime = tokio::runtime::Handle::current();
    let target = target.clone();
    let start_unix = std::time::SystemTime::now();
    let start = Instant::now();
    let pacer = {
        let answers = Arc::clone(&answers);
        std::thread::spawn(move || {
            for i in 0..n {
                let due = start + Duration::from_secs_f64(i as f64 / rate);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let (t, idle, answers) = (target.clone(), Arc::clone(&idle), Arc::clone(&answers));
                runtime.spawn(async move {
                    let began = Instant::now();
                    let pooled = idle.lock().expect("pool").pop();
                    let mut conn = match pooled {
                        Some(c) => c,
                        None => Connection::open(&t.url).await,
                    };
                    let status = conn.send(&t, i).await;
                    let answered = Timings {
                        request: i,
                        latency: due.elapsed(),
                        lag: began.saturating_duration_since(due),
                        from_send: began.elapsed(),
                        status,
                    };
                    if answered.status != "error" {
                        idle.lock().expect("pool").push(conn);
                    }
                    answers.push(answered);
                });
            }
        })
    };
    let each = answers.all().await;
    let elapsed = start.elapsed();
    let (mut hist, mut lags, mut from_send) = (histogram(), histogram(), histogram());
    let mut statuses = BTreeMap::<String, u64>::new();
    for t in &each {
        let _ = hist.record(t.latency.as_micros().max(1) as u64);
        let _ = lags.record(t.lag.as_micros().max(1) as u64);
        let _ = from_send.record(t.from_send.as_micros().max(1) as u64);
        *statuses.entry(t.status.clone()).or_default() += 1;
    }
    pacer.join().expect("pacer");
    let real_time = prompt.real_time;
    drop(prompt);
    let result = LoadResult {
        send_lag: Some(SendLag::of(&lags, &from_send, real_time)),
        ..summarize(&hist, statuses, elapsed, cpu)
    };
    if let Some(path) = latencies {
        write_latencies(path, start_unix, rate, each);
    }
    result
}

/// The open loop's answers. Each request's task leaves its timings here,
/// and only the last one wakes the caller: a channel message per answer
/// woke the caller a thousand times a second, CPU taken from the bridge
/// under test.
struct Answers {
    /// How many requests there are.
    n: usize,
    each: std::sync::Mutex<Vec<Timings>>,
    all_in: tokio::sync::Notify,
}

impl Answers {
    fn new(n: u64) -> Self {
        let n = n as usize;
        Self {
            n,
            each: std::sync::Mutex::new(Vec::with_capacity(n)),
            all_in: tokio::sync::Notify::new(),
        }
    }

    fn push(&self, t: Timings) {
        let mut each = self.each.lock().expect("answers");
        each.push(t);
        if each.len() == self.n {
            self.all_in.notify_one();
        }
    }

    /// Every answer, once all are in.
    async fn all(&self) -> Vec<Timings> {
        if self.n > 0 {
            self.all_in.notified().await;
        }
        std::mem::take(&mut *self.each.lock().expect("answers"))
    }
}

/// One open-loop request's timings.
struct Timings {
    /// Its number: it was due `request / rate` seconds after the start.
    request: u64,
    /// From when it was due to its answer.
    latency: Duration,
    /// How late it began to be sent.
    lag: Duration,
    /// From when it began to be sent to its answer.
    from_send: Duration,
    /// The answer's HTTP status, or `error`.
    status: String,
}

/// Writes one line per request, in the order they were due: `request`,
/// `due_unix_us` (when it was due, microseconds since the Unix epoch, to
/// set beside the bridge's log lines), `latency_us`, `sent_late_us` and
/// `from_send_us`. For a tail: are the slow requests spread out, or
/// consecutive (a stall)?
fn write_latencies(
    path: &std::path::Path,
    start: std::time::SystemTime,
    rate: f64,
    mut each: Vec<Timings>,
) {
    each.sort_unstable_by_key(|t| t.request);
    let due = |request: u64| {
        (start + Duration::from_secs_f64(request as f64 / rate))
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |t| t.as_micros())
    };
    let mut out = String::from("request,due_unix_us,latency_us,sent_late_us,from_send_us\n");
    for t in each {
        let _ = writeln!(
            out,
            "{},{},{},{},{}",
            t.request,
            due(t.request),
            t.latency.as_micros(),
            t.lag.as_micros(),
            t.from_send.as_micros()
        );
    }
    if let Err(e) = std::fs::write(path, out) {
        eprintln!("could not write {}: {e}", path.display());
    }
}

/// A trivial endpoint (reads the body, answers 200) on a one-thread
/// runtime of its own: the generator's ceiling on this machine.
pub fn trivial_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let app = axum::Router::new().route(
                "/",
                axum::routing::post(|body: Bytes| async move { body.len().to_string() }),
            );
            let _ = axum::serve(listener, app).await;
        });
    });
    format!("http://{addr}/")
}
