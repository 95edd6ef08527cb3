//! The load benchmark: the release binary against a real Temporal dev
//! server, next to a direct `temporalio-client` start loop, in one run.
//! `scripts/bench` runs it (`cargo bench --bench load`); see README
//! "Benchmarks" for what each row means.
//!
//! Settings (environment): `BENCH_N` deliveries per throughput run
//! (5000), `BENCH_C` concurrency (32), `BENCH_INGEST_N` (30000),
//! `BENCH_RATE` for the rate-limited runs (1000/s, `BENCH_RATE_N` 5000),
//! `BENCH_BACKLOG` (100000), `BENCH_DRAIN` (10000), `TEMPORAL_CLI`
//! (`temporal`), `BENCH_RESULTS_DIR` (`bench-results/`). `BENCH_ONLY`
//! runs only the named bridge runs (`durable|direct`) and writes no files;
//! with `BENCH_PERF=DIR` each is recorded with `perf record`;
//! `BENCH_LATENCIES=DIR` writes each fixed-rate run's requests, one line
//! each, to `DIR/<run>.csv`;
//! `BENCH_SCHEDULER_SLICE` gives those runs `schedulerSlice` (an A/B of
//! the setting).

#[path = "../support/workload.rs"]
mod workload;

mod direct;
mod generator;
mod phases;
mod procs;
mod report;

use std::{path::Path, sync::Arc, time::Instant};

use ado_temporal_bridge::mapping::RuleSet;
use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::json;

use generator::{Bodies, Target};
use phases::{Phase, Run, Spec, backlog_rss, bridge_phase, drain, startup};
use procs::TemporalServer;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let cli = std::env::var("TEMPORAL_CLI").unwrap_or_else(|_| "temporal".into());
    let n = env_u64("BENCH_N", 5_000);
    let c = env_u64("BENCH_C", 32) as usize;
    let ingest_n = env_u64("BENCH_INGEST_N", 30_000);
    let rate = env_u64("BENCH_RATE", 1_000) as f64;
    let rate_n = env_u64("BENCH_RATE_N", 5_000);
    let backlog = env_u64("BENCH_BACKLOG", 100_000);
    let drain_n = env_u64("BENCH_DRAIN", 10_000);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()
        .expect("http client");
    let mut run = Run {
        http,
        auth: format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", procs::USER, procs::PASSWORD))
        ),
        main: Arc::new(Bodies::push("main")),
        other: Arc::new(Bodies::push("feature/benchmark")),
        rules_dir: tempfile::tempdir().expect("tempdir"),
        c,
        next: 0,
        cpus: procs::split_cpus(),
    };
    let started = Instant::now();
    let uptime_before = procs::loadavg();
    eprintln!("load average {uptime_before}; body {} bytes", run.main.size);

    // The generator's own ceiling: a trivial endpoint, same bodies.
    let trivial = Target {
        url: generator::trivial_server(),
        auth: run.auth.clone(),
        bodies: Arc::clone(&run.other),
        first: 0,
    };
    let ceiling = generator::closed_loop(&trivial, ingest_n, c).await;
    eprintln!("generator vs trivial endpoint: {:.0}/s", ceiling.per_second);
    // And its latency floor at the fixed rate.
    let floor = generator::open_loop(
        &trivial,
        rate_n,
        rate,
        c,
        procs::latencies_file("generator vs trivial endpoint at a fixed rate").as_deref(),
    )
    .await;
    eprintln!(
        "generator vs trivial endpoint at a fixed rate: p99 {:.2} ms",
        floor.p99_ms
    );

    // Each run against Temporal gets a fresh dev server: a server that
    // already holds the workflows of earlier runs is slower, which would
    // favour whatever runs first.
    let fresh = || TemporalServer::start(&cli, procs::free_port(), &["bench"]);
    // A phase with `split_cpus` gets Temporal on a CPU of its own (see
    // `procs::split_cpus`); on a machine with one it is left out.
    let temporal_cpus = run.cpus.as_ref().map(|c| c.temporal.clone());
    let temporal_for = |s: &Spec| match (&temporal_cpus, s.split_cpus) {
        (Some(cpus), true) => {
            TemporalServer::start_on(&cli, procs::free_port(), &["bench"], Some(cpus))
        }
        _ => fresh(),
    };
    let temporal = fresh();
    let mut phases = Vec::new();
    let spec = |name, delivery, group_commit, matching, n, rate| Spec {
        name,
        delivery,
        group_commit,
        matching,
        n,
        rate,
        fast_path_wait: "300ms",
        temporal_away: false,
        worker_threads: None,
        scheduler_slice: None,
        split_cpus: false,
    };
    let one_thread = |s: Spec| Spec {
        worker_threads: Some(1),
        ..s
    };
    // The row of the p99 target, with the defaults but for the fast path.
    let at_rate = |name| Spec {
        fast_path_wait: "0s",
        ..spec(name, "durable", true, true, rate_n, Some(rate))
    };
    let plan = [
        spec("durable", "durable", true, true, n, None),
        // Right after the client's second run, like the first after its first.
        one_thread(spec(
            "durable, 1 worker thread",
            "durable",
            true,
            true,
            n,
            None,
        )),
        Spec {
            split_cpus: true,
            ..spec(
                "durable, Temporal on a CPU of its own",
                "durable",
                true,
                true,
                n,
                None,
            )
        },
        spec("direct", "direct", true, true, n, None),
        one_thread(spec(
            "direct, 1 worker thread",
            "direct",
            true,
            true,
            n,
            None,
        )),
        spec("durable, one fsync each", "durable", false, true, n, None),
        spec(
            "ingest only (durable)",
            "durable",
            true,
            false,
            ingest_n,
            None,
        ),
        spec(
            "ingest only, one fsync each",
            "durable",
            false,
            false,
            ingest_n,
            None,
        ),
        spec(
            "ingest only (direct)",
            "direct",
            true,
            false,
            ingest_n,
            None,
        ),
        one_thread(spec(
            "ingest only (durable), 1 worker thread",
            "durable",
            true,
            false,
            ingest_n,
            None,
        )),
        spec(
            "durable at a fixed rate",
            "durable",
            true,
            true,
            rate_n,
            Some(rate),
        ),
        at_rate(TARGET_ROWS[0]),
        Spec {
            fast_path_wait: "0s",
            worker_threads: Some(1),
            ..spec(
                "durable at a fixed rate, fastPathWait 0, 1 worker thread",
                "durable",
                true,
                true,
                rate_n,
                Some(rate),
            )
        },
        Spec {
            fast_path_wait: "0s",
            scheduler_slice: Some("100us"),
            ..spec(
                "durable at a fixed rate, fastPathWait 0, schedulerSlice 100us",
                "durable",
                true,
                true,
                rate_n,
                Some(rate),
            )
        },
        Spec {
            fast_path_wait: "0s",
            split_cpus: true,
            ..spec(
                "durable at a fixed rate, fastPathWait 0, Temporal on a CPU of its own",
                "durable",
                true,
                true,
                rate_n,
                Some(rate),
            )
        },
        spec(
            "ingest only (durable) at a fixed rate",
            "durable",
            true,
            false,
            rate_n,
            Some(rate),
        ),
        at_rate(TARGET_ROWS[1]),
        Spec {
            temporal_away: true,
            ..spec(
                "spool only (Temporal away)",
                "durable",
                true,
                true,
                ingest_n,
                None,
            )
        },
        Spec {
            temporal_away: true,
            ..spec(
                "spool only (Temporal away) at a fixed rate",
                "durable",
                true,
                true,
                rate_n,
                Some(rate),
            )
        },
        at_rate(TARGET_ROWS[2]),
    ];
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let chosen = |name: &str| only.split('|').any(|o| o == name);
    if !only.is_empty() {
        // Iterating on one phase (with BENCH_PERF, under perf): no files.
        let slice: Option<&'static str> = std::env::var("BENCH_SCHEDULER_SLICE")
            .ok()
            .map(|s| &*s.leak());
        for s in plan.iter().filter(|s| chosen(s.name)) {
            let temporal = temporal_for(s);
            let s = Spec {
                scheduler_slice: slice.or(s.scheduler_slice),
                ..*s
            };
            bridge_phase(&mut run, &temporal, &s).await;
        }
        if chosen("backlog") {
            let result = backlog_rss(&mut run, backlog).await;
            eprintln!("backlog: {result}");
        }
        return;
    }
    let startup_durable = startup(&run, &temporal, "durable", 5).await;
    let startup_direct = startup(&run, &temporal, "direct", 5).await;
    eprintln!("startup: {startup_durable} {startup_direct}");

    drop(temporal);

    // The ceiling Temporal sets: the same starts without the bridge, just
    // before and just after the durable bridge run, so that a machine whose
    // speed drifts (shared, noisy) does not favour either side.
    let mut clients = vec![client_run(&mut run, fresh(), n, c).await];
    let (mut split_clients, mut split_phase) = (Vec::new(), None);
    for (i, s) in plan.iter().enumerate() {
        if s.split_cpus && run.cpus.is_none() {
            eprintln!("{}: left out, this machine has one CPU", s.name);
            continue;
        }
        // The client's ceiling the same way, just before and just after.
        let split_closed = s.split_cpus && s.rate.is_none();
        if split_closed {
            split_clients.push(split_client_run(&mut run, temporal_for(s), n, c, "before").await);
        }
        let temporal = temporal_for(s);
        let temporal_pid = temporal.pid().to_string();
        let tcpu = procs::cpu_seconds(&temporal_pid);
        let mut p = bridge_phase(&mut run, &temporal, s).await;
        let temporal_cpu = procs::cpu_seconds(&temporal_pid) - tcpu;
        p.name = format!("bridge {}", s.name);
        phases.push((p, temporal_cpu));
        drop(temporal);
        if i == 0 {
            clients.push(client_run(&mut run, fresh(), n, c).await);
        }
        if split_closed {
            split_clients.push(split_client_run(&mut run, temporal_for(s), n, c, "after").await);
            split_phase = Some(phases.len() - 1);
        }
    }
    clients[0].0.name.push_str(", before");
    if let Some((after, _)) = clients.get_mut(1) {
        after.name.push_str(", after bridge durable");
    }

    let backlog_result = backlog_rss(&mut run, backlog).await;
    let drain_result = drain(&mut run, &cli, drain_n).await;
    let uptime_after = procs::loadavg();

    let mut rows: Vec<report::Row<'_>> = clients.iter().map(client_row).collect();
    for (name, load) in [
        ("generator vs trivial endpoint", &ceiling),
        ("generator vs trivial endpoint at a fixed rate", &floor),
    ] {
        rows.push(report::Row {
            name,
            load,
            started_per_second: None,
            peak_rss_mib: None,
            bridge_cpu_s: None,
            temporal_cpu_s: None,
            exactly_once: None,
            load_before: &uptime_before,
        });
    }
    for (i, (p, temporal_cpu)) in phases.iter().enumerate() {
        if split_phase == Some(i)
            && let Some(before) = split_clients.first()
        {
            rows.push(client_row(before));
        }
        rows.push(report::Row {
            name: &p.name,
            load: &p.load,
            started_per_second: p.started_per_second,
            peak_rss_mib: Some(p.peak_rss_mib),
            bridge_cpu_s: Some(p.bridge_cpu_s),
            temporal_cpu_s: Some(*temporal_cpu),
            exactly_once: p.exactly_once.as_ref().map(|v| v.exactly_once),
            load_before: &p.load_before,
        });
        if split_phase == Some(i)
            && let Some(after) = split_clients.get(1)
        {
            rows.push(client_row(after));
        }
    }
    let client_per_second = mean_per_second(&clients);
    // Until every workflow started: a 202 is not a started workflow.
    let durable_per_second = phases[0].0.per_second();
    let durable_ratio = durable_per_second / client_per_second;
    let one_thread_per_second = phases[1].0.per_second();
    let one_thread_ratio = one_thread_per_second / client_per_second;
    // The same with Temporal on a CPU of its own, against its own clients.
    let split_ratio =
        split_phase.map(|i| (phases[i].0.per_second(), mean_per_second(&split_clients)));
    let steps = backlog_result["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let step_at = |i: usize, key: &str| steps.get(i).and_then(|s| s[key].as_f64()).unwrap_or(0.0);
    let last_step = steps.len().saturating_sub(1);
    // Two probes' medians, with nothing and with everything queued.
    let empty_and_full = |a: &str, b: &str| {
        format!(
            "{:.2} / {:.2} ms; {:.2} / {:.2} ms (medians of 9)",
            step_at(0, a),
            step_at(last_step, a),
            step_at(0, b),
            step_at(last_step, b),
        )
    };
    let summary = vec![
        (
            "durable / direct client throughput, until every workflow started (client: mean of before and after)".into(),
            format!(
                "{durable_ratio:.2}x ({durable_per_second:.0} vs {})",
                per_second_list(&clients)
            ),
        ),
        (
            "durable with 1 worker thread / direct client, the same way".into(),
            format!("{one_thread_ratio:.2}x ({one_thread_per_second:.0})"),
        ),
        (
            "durable / direct client, the same way, Temporal on a CPU of its own".into(),
            split_ratio.map_or("left out (one CPU)".into(), |(bridge, client)| {
                format!(
                    "{:.2}x ({bridge:.0} vs {})",
                    bridge / client,
                    per_second_list(&split_clients)
                )
            }),
        ),
        (
            "p99 at 1,000/s, durable, `fastPathWait: 0`, Temporal sharing the CPUs: the row run three times in this run (with the other fixed-rate runs, after the ingest run at a fixed rate, and last); median and each, then the same from each send".into(),
            target_p99s(&phases),
        ),
        (
            "startup to ready, durable (median / max of 5)".into(),
            format!(
                "{:.0} / {:.0} ms",
                startup_durable["medianMs"].as_f64().unwrap_or(0.0),
                startup_durable["maxMs"].as_f64().unwrap_or(0.0)
            ),
        ),
        (
            "startup to ready, direct (median / max of 5)".into(),
            format!(
                "{:.0} / {:.0} ms",
                startup_direct["medianMs"].as_f64().unwrap_or(0.0),
                startup_direct["maxMs"].as_f64().unwrap_or(0.0)
            ),
        ),
        (
            "idle RSS after start (5 starts), of which the process's own (anonymous) memory"
                .into(),
            format!(
                "{}, {}",
                mib_range(&startup_durable["idleRssMiB"]),
                mib_range(&startup_durable["idleAnonRssMiB"])
            ),
        ),
        (
            format!("RSS with 0 / {backlog} queued deliveries (Temporal down)"),
            format!(
                "{:.1} / {:.1} MiB (peak {:.1})",
                step_at(0, "rssMiB"),
                step_at(last_step, "rssMiB"),
                backlog_result["peakRssMiB"].as_f64().unwrap_or(0.0)
            ),
        ),
        (
            format!("readiness probe; delivery log lookup by correlation id, with 0 / {backlog} queued deliveries"),
            empty_and_full("readyzMs", "lookupMs"),
        ),
        (
            format!("delivery log lookup by an outcome none has (reads the whole log); readiness probe meanwhile, with 0 / {backlog} queued deliveries"),
            empty_and_full("scanMs", "readyzDuringScansMs"),
        ),
        (
            format!("drain of {drain_n} queued while Temporal was down"),
            format!(
                "{:.0} deliveries/s ({:.1} s, after {:.1} s to reconnect), exactly once: {}",
                drain_result["perSecond"].as_f64().unwrap_or(0.0),
                drain_result["drainSeconds"].as_f64().unwrap_or(0.0),
                drain_result["reconnectSeconds"].as_f64().unwrap_or(0.0),
                drain_result["verified"]["exactly_once"]
            ),
        ),
        (
            "load average before / after the run".into(),
            format!("{uptime_before} / {uptime_after}"),
        ),
    ];
    let machine = report::machine();
    let header = format!(
        "Load benchmark, {} cores ({}), {} GiB; N = {n}, concurrency {c}; body {} bytes; {:.0} s in all",
        machine["cpus"],
        machine["cpuModel"].as_str().unwrap_or(""),
        machine["memoryGiB"],
        run.main.size,
        started.elapsed().as_secs_f64()
    );
    let md = report::markdown(&rows, &summary, &header);
    let result = json!({
        "machine": machine, "settings": {"n": n, "concurrency": c, "ingestN": ingest_n, "rate": rate,
            "rateN": rate_n, "backlog": backlog, "drain": drain_n, "bodyBytes": run.main.size},
        "loadAverage": {"before": uptime_before, "after": uptime_after},
        "generatorCeiling": ceiling,
        "generatorAtRate": floor,
        "directClient": runs_json(&clients),
        "bridge": runs_json(&phases),
        "durableOverClient": durable_ratio,
        "durableOneThreadOverClient": one_thread_ratio,
        "durableOverClientTemporalOnItsOwnCpu": split_ratio.map(|(b, c)| b / c),
        "directClientTemporalOnItsOwnCpu": runs_json(&split_clients),
        "startup": [startup_durable, startup_direct],
        "backlog": backlog_result,
        "drain": drain_result,
    });
    let dir = report::write(&result, &md);
    println!("{md}\nwritten to {}", dir.display());
}

/// The fixed-rate row of the p99 target, run three times at different
/// moments of one run: on a shared machine one run of it says little of
/// how it goes the next minute.
const TARGET_ROWS: [&str; 3] = [
    "durable at a fixed rate, fastPathWait 0",
    "durable at a fixed rate, fastPathWait 0, second time",
    "durable at a fixed rate, fastPathWait 0, third time",
];

/// The target row's p99s, median first: "median X ms (a, b, c); from each
/// send median Y ms (d, e, f)".
fn target_p99s(phases: &[(Phase, f64)]) -> String {
    let runs: Vec<&Phase> = TARGET_ROWS
        .iter()
        .filter_map(|name| {
            let name = format!("bridge {name}");
            phases.iter().map(|(p, _)| p).find(|p| p.name == name)
        })
        .collect();
    let p99s: Vec<f64> = runs.iter().map(|p| p.load.p99_ms).collect();
    let from_send: Vec<f64> = runs
        .iter()
        .filter_map(|p| p.load.send_lag.as_ref())
        .map(|l| l.p99_from_send_ms)
        .collect();
    format!(
        "median {}; from each send median {}",
        median_and_list(&p99s),
        median_and_list(&from_send)
    )
}

/// "X ms (a, b, c)" for values in ms, X their median.
fn median_and_list(values: &[f64]) -> String {
    if values.is_empty() {
        return "-".into();
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let list: Vec<String> = values.iter().map(|v| format!("{v:.2}")).collect();
    format!("{:.2} ms ({})", sorted[sorted.len() / 2], list.join(", "))
}

/// The mean rate of some client runs.
fn mean_per_second(runs: &[(Phase, f64)]) -> f64 {
    runs.iter().map(|(p, _)| p.per_second()).sum::<f64>() / runs.len().max(1) as f64
}

/// The rates of some client runs, `a / b`.
fn per_second_list(runs: &[(Phase, f64)]) -> String {
    runs.iter()
        .map(|(p, _)| format!("{:.0}", p.per_second()))
        .collect::<Vec<_>>()
        .join(" / ")
}

/// Runs as JSON, each with the Temporal server's CPU seconds.
fn runs_json(runs: &[(Phase, f64)]) -> Vec<serde_json::Value> {
    runs.iter()
        .map(|(p, t)| {
            let mut j = p.json();
            j["temporalCpuSeconds"] = json!(t);
            j
        })
        .collect()
}

/// The table row of a direct client run.
fn client_row((p, temporal_cpu): &(Phase, f64)) -> report::Row<'_> {
    report::Row {
        name: &p.name,
        load: &p.load,
        started_per_second: p.started_per_second,
        peak_rss_mib: None,
        bridge_cpu_s: None,
        temporal_cpu_s: Some(*temporal_cpu),
        exactly_once: p.exactly_once.as_ref().map(|v| v.exactly_once),
        load_before: &p.load_before,
    }
}

/// [`client_run`] with Temporal on a CPU of its own (`temporal` started
/// so) and this process, the client, on another.
async fn split_client_run(
    run: &mut Run,
    temporal: TemporalServer,
    n: u64,
    c: usize,
    when: &str,
) -> (Phase, f64) {
    let cpus = run
        .cpus
        .clone()
        .expect("a phase with split_cpus needs two CPUs");
    let _confined = procs::Confined::to(&cpus.rest);
    let (mut phase, temporal_cpu) = client_run(run, temporal, n, c).await;
    phase
        .name
        .push_str(&format!(", Temporal on a CPU of its own, {when}"));
    (phase, temporal_cpu)
}

/// The direct client's start loop against a fresh Temporal server, checked
/// afterwards: the row and Temporal's CPU seconds.
async fn client_run(run: &mut Run, temporal: TemporalServer, n: u64, c: usize) -> (Phase, f64) {
    let temporal_pid = temporal.pid().to_string();
    let client = direct::connect(&temporal.address, "bench").await;
    let rules = RuleSet::from_rules(
        RuleSet::parse_file(
            Path::new("bench.yaml"),
            &workload::rules_yaml(1, "BenchClient"),
        )
        .expect("rules"),
    );
    let (first, load_before) = (run.next, procs::loadavg());
    run.next += n;
    let tcpu = procs::cpu_seconds(&temporal_pid);
    let load = direct::start_loop(&client, &rules, &run.main, first, n, c, "BenchClient").await;
    let temporal_cpu = procs::cpu_seconds(&temporal_pid) - tcpu;
    let verified = direct::verify(&client, "BenchClient", n).await;
    eprintln!(
        "direct client: {:.0}/s p99 {:.2} ms {verified:?}",
        load.per_second, load.p99_ms
    );
    let phase = Phase {
        name: "direct temporalio-client (ceiling)".into(),
        started_per_second: Some(load.per_second),
        load,
        peak_rss_mib: 0.0,
        bridge_cpu_s: 0.0,
        exactly_once: Some(verified),
        load_before,
        temporal_calls: n,
    };
    (phase, temporal_cpu)
}

/// The lowest and highest of a JSON list of MiB values, as `lo-hi MiB`.
fn mib_range(values: &serde_json::Value) -> String {
    let values: Vec<f64> = values
        .as_array()
        .map(|v| v.iter().filter_map(serde_json::Value::as_f64).collect())
        .unwrap_or_default();
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(0.0, f64::max);
    format!("{lo:.1}-{hi:.1} MiB")
}
