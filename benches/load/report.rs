//! The result files: everything as JSON, the headline numbers as a
//! Markdown table, both under `bench-results/`.

use std::{fmt::Write, path::PathBuf};

use serde_json::{Value, json};

use crate::generator::LoadResult;

/// The machine a run happened on.
pub fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
        .map(|(_, m)| m.trim().to_owned())
        .unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpuModel": model,
        "memoryGiB": (mem_kib as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0,
    })
}

/// One row of the throughput table.
pub struct Row<'a> {
    /// What ran.
    pub name: &'a str,
    /// What it measured.
    pub load: &'a LoadResult,
    /// Deliveries per second until every workflow started (none when no
    /// workflow is started).
    pub started_per_second: Option<f64>,
    /// Peak RSS of the bridge, MiB (none for the direct client).
    pub peak_rss_mib: Option<f64>,
    /// CPU seconds of the bridge.
    pub bridge_cpu_s: Option<f64>,
    /// CPU seconds of the Temporal dev server.
    pub temporal_cpu_s: Option<f64>,
    /// Exactly-once check result, if any.
    pub exactly_once: Option<bool>,
    /// 1-minute load average before the phase.
    pub load_before: &'a str,
}

/// The Markdown table.
pub fn markdown(rows: &[Row<'_>], summary: &[(String, String)], header: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{header}\n");
    let _ = writeln!(
        out,
        "| run | deliveries | answers/s | workflows started/s | p50 ms | p90 ms | p99 ms | max ms | sent late p99 ms | p99 from send ms | peak RSS MiB | bridge CPU s | generator CPU s | Temporal CPU s | statuses | exactly once | load avg before |"
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|"
    );
    for r in rows {
        let l = r.load;
        let statuses: Vec<String> = l
            .statuses
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        let opt = |v: Option<f64>, p: usize| v.map_or("-".to_owned(), |v| format!("{v:.p$}"));
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {} | {:.2} | {:.2} | {:.2} | {:.1} | {} | {} | {} | {} | {:.1} | {} | {} | {} | {} |",
            r.name,
            l.requests,
            l.per_second,
            opt(r.started_per_second, 0),
            l.p50_ms,
            l.p90_ms,
            l.p99_ms,
            l.max_ms,
            opt(l.send_lag.as_ref().map(|s| s.p99_ms), 2),
            opt(l.send_lag.as_ref().map(|s| s.p99_from_send_ms), 2),
            opt(r.peak_rss_mib, 1),
            opt(r.bridge_cpu_s, 1),
            l.generator_cpu_s,
            opt(r.temporal_cpu_s, 1),
            statuses.join(", "),
            r.exactly_once
                .map_or("-", |ok| if ok { "yes" } else { "NO" }),
            r.load_before,
        );
    }
    let _ = writeln!(out, "\n| measure | value |\n|---|---|");
    for (k, v) in summary {
        let _ = writeln!(out, "| {k} | {v} |");
    }
    out
}

/// Writes `load.json` and `load.md` to `bench-results/` (or
/// `BENCH_RESULTS_DIR`) and returns the directory.
pub fn write(json: &Value, md: &str) -> PathBuf {
    let dir = std::env::var_os("BENCH_RESULTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench-results"));
    std::fs::create_dir_all(&dir).expect("results dir");
    std::fs::write(
        dir.join("load.json"),
        serde_json::to_string_pretty(json).expect("json"),
    )
    .expect("write load.json");
    std::fs::write(dir.join("load.md"), md).expect("write load.md");
    dir
}
