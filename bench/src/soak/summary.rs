//! The soak's closing tables: counts, each process's figures at the start, the end of the load,
//! after the drain and at most, and a verdict per metric (see `verdict`).

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::SoakArgs;
use super::load::Load;
use super::sample::{Phase, Process, ProcessSample, Sample};
use super::verdict;

/// Absolute slack of each verdict (see `verdict`), in the metric's unit: what noise alone moves.
/// RSS: 1 MiB. It was 4 MiB until the first 30-minute run, whose workers climbed 1.2-1.4 MiB per
/// 10 minutes (unscraped Prometheus histograms) and still passed; 1 MiB flags that climb.
const RSS_SLACK_MIB: f64 = 1.0;
const FDS_SLACK: f64 = 4.0;
const THREADS_SLACK: f64 = 2.0;
/// Pools open connections on demand, up to `knexConfig.pool.max` per process.
const CONNECTIONS_SLACK: f64 = 5.0;
/// Seconds of arrivals the queue depth may swing by.
const QUEUE_SLACK_SECONDS: f64 = 2.0;
/// Working-directory entries per task/s of rate: a fast task's workspace holds about ten.
const WORK_SLACK_PER_RATE: f64 = 20.0;

/// One summarised series: its name, values under load, slack, and whether it gets a verdict.
struct Metric {
    name: String,
    values: Vec<f64>,
    slack: f64,
    judged: bool,
}

/// Prints the summary tables and returns the names of the metrics that grow.
pub(super) fn summarise(
    processes: &[Process],
    samples: &[Sample],
    options: &SoakArgs,
    load: &Load,
    drained: Duration,
) -> Vec<String> {
    let under_load: Vec<&Sample> = samples.iter().filter(|s| s.phase == Phase::Load).collect();
    let times: Vec<f64> = under_load.iter().map(|s| s.seconds).collect();
    let window: f64 = 300.0;
    let series = |f: &dyn Fn(&Sample) -> f64| under_load.iter().map(|s| f(s)).collect::<Vec<f64>>();
    let metric = |name: String, values: Vec<f64>, slack: f64| Metric { name, values, slack, judged: true };
    let mut metrics = Vec::new();
    for (n, process) in processes.iter().enumerate() {
        let name = &process.name;
        metrics.push(metric(
            format!("{name} RSS (MiB)"),
            series(&|s| s.processes[n].rss_kib as f64 / 1024.0),
            RSS_SLACK_MIB,
        ));
        metrics.push(metric(format!("{name} open fds"), series(&|s| s.processes[n].fds as f64), FDS_SLACK));
        metrics.push(metric(format!("{name} threads"), series(&|s| s.processes[n].threads as f64), THREADS_SLACK));
    }
    metrics.push(metric("PostgreSQL connections".to_owned(), series(&|s| s.pg_connections as f64), CONNECTIONS_SLACK));
    metrics.push(metric(
        "queue depth (open + processing)".to_owned(),
        series(&|s| (s.queue.open + s.queue.processing) as f64),
        (QUEUE_SLACK_SECONDS * options.rate).max(10.0),
    ));
    metrics.push(metric(
        "working directory entries".to_owned(),
        series(&|s| s.work_entries as f64),
        (WORK_SLACK_PER_RATE * options.rate).max(100.0),
    ));
    for (name, values) in [("POST p50 (ms)", series(&|s| s.post_p50)), ("POST p99 (ms)", series(&|s| s.post_p99))] {
        metrics.push(Metric { name: name.to_owned(), values, slack: 0.0, judged: false });
    }

    let last = samples.last();
    let submitted = load.submitted.load(Ordering::Relaxed);
    println!(
        "\nsoak: {submitted} tasks submitted in {} min ({:.2}/s, asked {}); drained {:.0} s after the load; at the end {} completed, {} failed, {} cancelled, {} open, {} processing; event readers {} done, {} failed",
        options.minutes,
        submitted as f64 / (options.minutes * 60.0),
        options.rate,
        drained.as_secs_f64(),
        last.map_or(0, |s| s.queue.completed),
        last.map_or(0, |s| s.queue.failed),
        last.map_or(0, |s| s.queue.cancelled),
        last.map_or(0, |s| s.queue.open),
        last.map_or(0, |s| s.queue.processing),
        load.readers_done.load(Ordering::Relaxed),
        load.readers_failed.load(Ordering::Relaxed),
    );
    if let (Some(first), Some(end), Some(last)) = (under_load.first(), under_load.last(), last) {
        println!(
            "\n| process | RSS MiB: start / end of load / after drain / max | fds: start / end / after / max | threads: start / end / after / max |"
        );
        println!("|---|---|---|---|");
        for (n, process) in processes.iter().enumerate() {
            let figures = |f: &dyn Fn(&ProcessSample) -> f64, precision: usize| {
                let max = samples.iter().map(|s| f(&s.processes[n])).fold(0.0, f64::max);
                [f(&first.processes[n]), f(&end.processes[n]), f(&last.processes[n]), max]
                    .map(|v| format!("{v:.precision$}"))
                    .join(" / ")
            };
            println!(
                "| {} | {} | {} | {} |",
                process.name,
                figures(&|p| p.rss_kib as f64 / 1024.0, 1),
                figures(&|p| p.fds as f64, 0),
                figures(&|p| p.threads as f64, 0)
            );
        }
        let max = |f: &dyn Fn(&Sample) -> f64| samples.iter().map(f).fold(0.0, f64::max);
        println!(
            "\nPostgreSQL connections: start {} / end of load {} / after drain {} / max {}; queue depth (open + processing) max {}; working-directory entries max {}, after drain {}",
            first.pg_connections,
            end.pg_connections,
            last.pg_connections,
            max(&|s| s.pg_connections as f64),
            max(&|s| (s.queue.open + s.queue.processing) as f64),
            max(&|s| s.work_entries as f64),
            last.work_entries
        );
    }
    println!(
        "\n| metric (under load) | first {w:.1} min | last {w:.1} min | max | middle third | last third | fitted climb / 10 min | verdict |",
        w = (window / 60.0).min(options.minutes / 3.0)
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut growing = Vec::new();
    for Metric { name, values, slack, judged } in metrics {
        let mut judgement = verdict::judge(&times, &values, window, slack);
        if name.contains("RSS") && judgement.max > options.rss_cap_mib as f64 {
            judgement.bounded = false;
            judgement.reason = format!("max above the {} MiB cap; {}", options.rss_cap_mib, judgement.reason);
        }
        let verdict = match (judged, judgement.bounded) {
            (false, _) => "(information)".to_owned(),
            (true, true) => "bounded".to_owned(),
            (true, false) => {
                growing.push(name.clone());
                format!("**GROWS**: {}", judgement.reason)
            }
        };
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:+.2} | {verdict} |",
            judgement.first,
            judgement.last,
            judgement.max,
            judgement.middle_third,
            judgement.last_third,
            judgement.climb_per_10_minutes
        );
    }
    growing
}
