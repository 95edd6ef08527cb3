//! The phases of a load run: one bridge under load, startups, a backlog
//! with Temporal down, and its drain once Temporal is back.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::{
    direct,
    generator::{self, Bodies, LoadResult, Target},
    procs::{self, Bridge, BridgeSetup, TemporalServer},
    workload,
};

/// Everything a phase needs.
pub struct Run {
    /// HTTP client for everything but the closed-loop load.
    pub http: reqwest::Client,
    /// `Authorization` of the benchmark source.
    pub auth: String,
    /// Pushes to `main` (one workflow each).
    pub main: Arc<Bodies>,
    /// Pushes no rule matches.
    pub other: Arc<Bodies>,
    /// Where generated rule files go.
    pub rules_dir: tempfile::TempDir,
    /// Concurrency of closed-loop runs.
    pub c: usize,
    /// Delivery numbers already used: every phase sends new ones.
    pub next: u64,
    /// CPUs for the phases with `split_cpus`; `None` leaves them out.
    pub cpus: Option<procs::CpuSplit>,
}

impl Run {
    /// Writes the 20-rule benchmark rule file for `workflow_type`.
    pub fn rules(&self, workflow_type: &str) -> std::path::PathBuf {
        let path = self.rules_dir.path().join(format!("{workflow_type}.yaml"));
        std::fs::write(&path, workload::rules_yaml(20, workflow_type)).expect("write rules");
        path
    }

    fn target(&mut self, bridge: &Bridge, matching: bool, n: u64) -> Target {
        let first = self.next;
        self.next += n;
        Target {
            url: format!("{}/webhooks/bench", bridge.base),
            auth: self.auth.clone(),
            bodies: Arc::clone(if matching { &self.main } else { &self.other }),
            first,
        }
    }
}

/// One bridge phase's numbers.
pub struct Phase {
    /// Row name.
    pub name: String,
    /// Throughput and latency.
    pub load: LoadResult,
    /// Peak RSS of the bridge.
    pub peak_rss_mib: f64,
    /// CPU seconds of the bridge during the load.
    pub bridge_cpu_s: f64,
    /// What Temporal holds afterwards.
    pub exactly_once: Option<direct::Verified>,
    /// 1/5/15-minute load average before the phase.
    pub load_before: String,
    /// Temporal calls the bridge made, retries included.
    pub temporal_calls: u64,
    /// Deliveries per second counted until every workflow was started
    /// (the spool drained, for durable runs); `None` without Temporal.
    pub started_per_second: Option<f64>,
}

impl Phase {
    /// Workflows started per second, or, where nothing was started,
    /// answers per second: a 202 is not a started workflow.
    pub fn per_second(&self) -> f64 {
        self.started_per_second.unwrap_or(self.load.per_second)
    }

    /// As JSON.
    pub fn json(&self) -> Value {
        json!({
            "name": self.name, "load": self.load, "peakRssMiB": self.peak_rss_mib,
            "bridgeCpuSeconds": self.bridge_cpu_s, "verified": self.exactly_once,
            "loadAverageBefore": self.load_before, "temporalCalls": self.temporal_calls,
            "startedPerSecond": self.started_per_second,
        })
    }
}

/// One bridge run of the plan.
#[derive(Clone, Copy)]
pub struct Spec {
    /// Row name.
    pub name: &'static str,
    /// `durable` or `direct`.
    pub delivery: &'static str,
    /// `spool.groupCommit`.
    pub group_commit: bool,
    /// Deliveries a rule matches (a workflow each), or none does.
    pub matching: bool,
    /// Deliveries.
    pub n: u64,
    /// Open loop at this rate, or closed loop at the run's concurrency.
    pub rate: Option<f64>,
    /// `spool.fastPathWait`.
    pub fast_path_wait: &'static str,
    /// Point the bridge at a port nobody listens on: matching deliveries
    /// are only spooled (each admission committed to disk before the
    /// answer), so the run measures durable ingest without Temporal
    /// taking CPU away.
    pub temporal_away: bool,
    /// `workerThreads`, or the bridge's default (one per CPU).
    pub worker_threads: Option<usize>,
    /// `schedulerSlice`, or the kernel's default.
    pub scheduler_slice: Option<&'static str>,
    /// Temporal on one CPU, the bridge and the generator on another: as
    /// when Temporal runs on machines of its own.
    pub split_cpus: bool,
}

/// Runs deliveries through a fresh bridge and, for matching ones, checks
/// Temporal afterwards.
pub async fn bridge_phase(run: &mut Run, temporal: &TemporalServer, spec: &Spec) -> Phase {
    let Spec {
        name,
        delivery,
        group_commit,
        matching,
        n,
        rate,
        fast_path_wait,
        temporal_away,
        worker_threads,
        scheduler_slice,
        split_cpus,
    } = *spec;
    let bridge_cpus = run.cpus.clone().filter(|_| split_cpus).map(|c| c.rest);
    let bridge_cpus = bridge_cpus.as_deref();
    let workflow_type = format!("Bench{}", name.replace([' ', ',', '/', '(', ')'], ""));
    let rules = run.rules(&workflow_type);
    let address = if temporal_away {
        procs::unreachable_address()
    } else {
        temporal.address.clone()
    };
    let setup = BridgeSetup {
        delivery,
        group_commit,
        fast_path_wait,
        worker_threads,
        scheduler_slice,
        cpus: bridge_cpus,
        ..BridgeSetup::durable(&address, &rules)
    };
    let _confined = bridge_cpus.map(procs::Confined::to);
    let load_before = procs::loadavg();
    let bridge = Bridge::start(&setup, &run.http).await;
    let target = run.target(&bridge, matching, n);
    let cpu = bridge.cpu();
    let profile = procs::Profiler::start(bridge.pid(), name);
    let load = match rate {
        Some(r) => {
            let latencies = procs::latencies_file(name);
            generator::open_loop(&target, n, r, run.c, latencies.as_deref()).await
        }
        None => generator::closed_loop(&target, n, run.c).await,
    };
    let mut bridge_cpu_s = bridge.cpu() - cpu;
    let mut exactly_once = None;
    let mut started_per_second = None;
    if matching && !temporal_away {
        // A durable answer (202) may come before its workflow starts:
        // count time and CPU until the spool is empty.
        let mut took = Duration::from_secs_f64(n as f64 / load.per_second);
        if delivery == "durable" {
            took += bridge.drained(&run.http, Duration::from_secs(600)).await;
            bridge_cpu_s = bridge.cpu() - cpu;
        }
        started_per_second = Some(n as f64 / took.as_secs_f64());
        let client = direct::connect(&temporal.address, "bench").await;
        // A 503 asks the sender to retry later: only accepted deliveries
        // must have become workflows.
        let accepted = ["200", "202"]
            .iter()
            .filter_map(|s| load.statuses.get(*s))
            .sum();
        exactly_once = Some(direct::verify(&client, &workflow_type, accepted).await);
    }
    drop(profile);
    let temporal_calls = bridge.temporal_calls(&run.http).await;
    let phase = Phase {
        temporal_calls,
        name: name.to_owned(),
        load,
        peak_rss_mib: bridge.peak_rss_mib(),
        bridge_cpu_s,
        exactly_once,
        load_before,
        started_per_second,
    };
    eprintln!(
        "{name}: {:.0}/s (started {:.0}/s) p99 {:.2} ms{}, bridge CPU {:.0} us/delivery, generator CPU {:.0} us/request, {temporal_calls} Temporal calls, peak RSS {:.1} MiB, {:?}, verified {:?}",
        phase.load.per_second,
        phase.started_per_second.unwrap_or(0.0),
        phase.load.p99_ms,
        phase
            .load
            .send_lag
            .as_ref()
            .map_or(String::new(), |l| format!(
                " (sent late by p50 {:.2}, p99 {:.2}, max {:.2} ms; p99 from send {:.2} ms; generator {})",
                l.p50_ms,
                l.p99_ms,
                l.max_ms,
                l.p99_from_send_ms,
                if l.real_time {
                    "real-time"
                } else {
                    "with short slices"
                }
            )),
        phase.bridge_cpu_s * 1e6 / n as f64,
        phase.load.generator_cpu_s * 1e6 / n as f64,
        phase.peak_rss_mib,
        phase.load.statuses,
        phase.exactly_once
    );
    phase
}

/// Startup to the first `/readyz` 200, and idle RSS, over `times` starts.
pub async fn startup(run: &Run, temporal: &TemporalServer, delivery: &str, times: usize) -> Value {
    let rules = run.rules("BenchStartup");
    let mut ms = Vec::new();
    let mut idle = Vec::new();
    let mut anon = Vec::new();
    for _ in 0..times {
        let setup = BridgeSetup {
            delivery,
            ..BridgeSetup::durable(&temporal.address, &rules)
        };
        let bridge = Bridge::start(&setup, &run.http).await;
        ms.push(bridge.startup.as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_secs(1)).await;
        idle.push(bridge.rss_mib());
        anon.push(bridge.anon_rss_mib());
    }
    ms.sort_by(f64::total_cmp);
    json!({"delivery": delivery, "startupMs": ms, "medianMs": ms[ms.len() / 2],
           "maxMs": ms.last(), "idleRssMiB": idle, "idleAnonRssMiB": anon})
}

/// RSS of a durable bridge with Temporal unreachable while `total`
/// deliveries pile up in the spool.
pub async fn backlog_rss(run: &mut Run, total: u64) -> Value {
    let rules = run.rules("BenchBacklog");
    let nowhere = procs::unreachable_address();
    let setup = BridgeSetup::durable(&nowhere, &rules);
    let bridge = Bridge::start(&setup, &run.http).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut steps = vec![backlog_step(&bridge, &run.http, 0).await];
    let step = (total / 5).max(1);
    let mut queued = 0;
    while queued < total {
        let target = run.target(&bridge, true, step);
        let load = generator::closed_loop(&target, step, run.c).await;
        queued += step;
        eprintln!(
            "backlog {queued}: {:.0}/s {:?}",
            load.per_second, load.statuses
        );
        let mut at = backlog_step(&bridge, &run.http, queued).await;
        at["load"] = json!(load);
        steps.push(at);
    }
    let pending = bridge.pending(&run.http).await;
    json!({"steps": steps, "pending": pending, "peakRssMiB": bridge.peak_rss_mib()})
}

/// The bridge with `queued` deliveries queued: its RSS and [`probes_ms`].
async fn backlog_step(bridge: &Bridge, http: &reqwest::Client, queued: u64) -> Value {
    let mut at = probes_ms(bridge, http).await;
    at["queued"] = json!(queued);
    at["rssMiB"] = json!(bridge.rss_mib());
    at
}

/// How long a readiness probe, a lookup in the delivery log by a
/// correlation id that is not there, and one by an outcome no delivery has
/// (`failed`, which reads the whole log) take, the median of 9 each, ms;
/// and a readiness probe while such lookups run one after another. The
/// probe reads the store on its writer thread, where deliveries wait
/// behind whatever runs: it shows whether they wait behind the lookups.
async fn probes_ms(bridge: &Bridge, http: &reqwest::Client) -> Value {
    const SCAN: &str = "/admin/deliveries?outcome=failed";
    let readyz = bridge.get_ms(http, "/readyz").await;
    let lookup = bridge
        .get_ms(http, "/admin/deliveries?correlationId=not-there")
        .await;
    let scan = bridge.get_ms(http, SCAN).await;
    let scanning = std::sync::atomic::AtomicBool::new(true);
    let scans = async {
        while scanning.load(std::sync::atomic::Ordering::Relaxed) {
            bridge.get(http, SCAN).await;
        }
    };
    let probes = async {
        // The first lookup under way.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let ms = bridge.get_ms(http, "/readyz").await;
        scanning.store(false, std::sync::atomic::Ordering::Relaxed);
        ms
    };
    let ((), during) = tokio::join!(scans, probes);
    json!({"readyzMs": readyz, "lookupMs": lookup, "scanMs": scan,
           "readyzDuringScansMs": during})
}

/// A backlog queued while Temporal is down, then delivered once it is up.
pub async fn drain(run: &mut Run, cli: &str, n: u64) -> Value {
    let rules = run.rules("BenchDrain");
    let port = procs::free_port();
    let address = format!("127.0.0.1:{port}");
    let setup = BridgeSetup::durable(&address, &rules);
    let bridge = Bridge::start(&setup, &run.http).await;
    let target = run.target(&bridge, true, n);
    let queued = generator::closed_loop(&target, n, run.c).await;
    let temporal = TemporalServer::start(cli, port, &["bench"]);
    let up = Instant::now();
    while bridge.readyz(&run.http).await["temporal"] != "reachable" {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let reconnect = up.elapsed();
    let cpu = bridge.cpu();
    let took = bridge.drained(&run.http, Duration::from_secs(900)).await;
    let client = direct::connect(&temporal.address, "bench").await;
    let verified = direct::verify(&client, "BenchDrain", n).await;
    eprintln!(
        "drain: {n} in {took:?} ({:.0}/s) after {reconnect:?} reconnect; {verified:?}",
        n as f64 / took.as_secs_f64()
    );
    json!({"deliveries": n, "queueStatuses": queued.statuses,
           "reconnectSeconds": reconnect.as_secs_f64(), "drainSeconds": took.as_secs_f64(),
           "perSecond": n as f64 / took.as_secs_f64(), "bridgeCpuSeconds": bridge.cpu() - cpu,
           "peakRssMiB": bridge.peak_rss_mib(), "verified": verified})
}
