//! What the soak measures every `--sample-seconds`: each process's RSS, open file descriptors and
//! threads from `/proc`, PostgreSQL's connections and the queue, the POST latency of the window,
//! the working directory's size; and the CSV line and progress line of each sample.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::{Context, bail};
use tokio::process::Child;

use super::load::Load;
use crate::percentile;

pub(super) struct Process {
    pub(super) name: String,
    child: Child,
    pid: u32,
}

impl Process {
    pub(super) fn new(name: &str, child: Child) -> anyhow::Result<Process> {
        let pid = child.id().context("the process has already exited")?;
        Ok(Process { name: name.to_owned(), child, pid })
    }
}

#[derive(Clone, Copy, Default)]
pub(super) struct ProcessSample {
    pub(super) rss_kib: u64,
    pub(super) fds: u64,
    pub(super) threads: u64,
}

fn process_sample(pid: u32) -> ProcessSample {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map(|dir| dir.count() as u64).unwrap_or(0);
    ProcessSample { rss_kib: field("VmRSS:"), fds, threads: field("Threads:") }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Phase {
    Load,
    Drain,
    Drained,
}

pub(super) struct Queue {
    pub(super) open: i64,
    pub(super) processing: i64,
    pub(super) completed: i64,
    pub(super) failed: i64,
    pub(super) cancelled: i64,
}

pub(super) async fn queue(db: &mut sqlx::PgConnection) -> anyhow::Result<Queue> {
    let (open, processing, completed, failed, cancelled): (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'open'), count(*) FILTER (WHERE status = 'processing'),
                count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'failed'),
                count(*) FILTER (WHERE status = 'cancelled')
         FROM scaffolder.tasks",
    )
    .fetch_one(db)
    .await?;
    Ok(Queue { open, processing, completed, failed, cancelled })
}

pub(super) struct Sample {
    pub(super) seconds: f64,
    pub(super) phase: Phase,
    pub(super) processes: Vec<ProcessSample>,
    /// Connections to the soak's database, the sampler's own left out.
    pub(super) pg_connections: i64,
    pub(super) queue: Queue,
    pub(super) submitted: u64,
    pub(super) post_errors: u64,
    pub(super) posts: usize,
    pub(super) post_p50: f64,
    pub(super) post_p99: f64,
    pub(super) readers_active: u64,
    pub(super) work_entries: u64,
    pub(super) work_bytes: u64,
}

pub(super) async fn take_sample(
    processes: &mut [Process],
    db: &mut sqlx::PgConnection,
    database: &str,
    load: &Load,
    work: &Path,
    started: Instant,
    phase: Phase,
) -> anyhow::Result<Sample> {
    for process in processes.iter_mut() {
        if let Some(status) = process.child.try_wait()? {
            bail!("{} (pid {}) exited during the soak: {status}", process.name, process.pid);
        }
    }
    let latencies = std::mem::take(&mut *load.latencies.lock().expect("not poisoned"));
    let (pg_connections,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()")
            .bind(database)
            .fetch_one(&mut *db)
            .await?;
    let (work_entries, work_bytes) = tree_size(work.to_path_buf()).await;
    Ok(Sample {
        seconds: started.elapsed().as_secs_f64(),
        phase,
        processes: processes.iter().map(|p| process_sample(p.pid)).collect(),
        pg_connections,
        queue: queue(db).await?,
        submitted: load.submitted.load(Ordering::Relaxed),
        post_errors: load.post_errors.load(Ordering::Relaxed),
        posts: latencies.len(),
        post_p50: percentile(&latencies, 50.0),
        post_p99: percentile(&latencies, 99.0),
        readers_active: load.readers_active(),
        work_entries,
        work_bytes,
    })
}

/// Entries (files, directories, links) and bytes under `root`, not counting `root`.
pub(super) async fn tree_size(root: PathBuf) -> (u64, u64) {
    tokio::task::spawn_blocking(move || {
        let (mut entries, mut bytes) = (0, 0);
        let mut stack = vec![root];
        while let Some(dir) = stack.pop() {
            // Workspaces come and go while we walk: what vanished is simply not counted.
            let Ok(read) = std::fs::read_dir(&dir) else { continue };
            for entry in read.flatten() {
                entries += 1;
                let Ok(metadata) = entry.metadata() else { continue };
                if metadata.is_dir() {
                    stack.push(entry.path());
                } else {
                    bytes += metadata.len();
                }
            }
        }
        (entries, bytes)
    })
    .await
    .unwrap_or_default()
}

pub(super) fn csv_header(processes: &[Process]) -> String {
    let mut columns = vec!["seconds".to_owned(), "phase".to_owned()];
    for process in processes {
        for what in ["rss_kib", "fds", "threads"] {
            columns.push(format!("{}_{what}", process.name));
        }
    }
    columns.extend(
        [
            "pg_connections",
            "open",
            "processing",
            "completed",
            "failed",
            "cancelled",
            "submitted",
            "post_errors",
            "posts",
            "post_p50_ms",
            "post_p99_ms",
            "readers_active",
            "work_entries",
            "work_bytes",
        ]
        .map(str::to_owned),
    );
    columns.join(",")
}

/// Appends the sample to the CSV (flushed, so a run cut short keeps its samples), prints a
/// progress line, and keeps it.
pub(super) fn record(
    csv: &mut std::fs::File,
    names: &[String],
    sample: Sample,
    samples: &mut Vec<Sample>,
) -> anyhow::Result<()> {
    let mut fields = vec![format!("{:.1}", sample.seconds), format!("{:?}", sample.phase).to_lowercase()];
    for p in &sample.processes {
        fields.extend([p.rss_kib.to_string(), p.fds.to_string(), p.threads.to_string()]);
    }
    let q = &sample.queue;
    fields.extend([
        sample.pg_connections.to_string(),
        q.open.to_string(),
        q.processing.to_string(),
        q.completed.to_string(),
        q.failed.to_string(),
        q.cancelled.to_string(),
        sample.submitted.to_string(),
        sample.post_errors.to_string(),
        sample.posts.to_string(),
        format!("{:.2}", sample.post_p50),
        format!("{:.2}", sample.post_p99),
        sample.readers_active.to_string(),
        sample.work_entries.to_string(),
        sample.work_bytes.to_string(),
    ]);
    writeln!(csv, "{}", fields.join(","))?;
    csv.flush()?;
    let processes: Vec<String> = names
        .iter()
        .zip(&sample.processes)
        .map(|(name, p)| format!("{name} {:.1} MiB {} fd {} thr", p.rss_kib as f64 / 1024.0, p.fds, p.threads))
        .collect();
    println!(
        "[{:>3}:{:02}] {:<7} {} | pg {} | open {} processing {} | done {} failed {} cancelled {} of {} | POST n={} p50 {:.1} p99 {:.1} ms | readers {} | work {} entries",
        sample.seconds as u64 / 60,
        sample.seconds as u64 % 60,
        format!("{:?}", sample.phase).to_lowercase(),
        processes.join(" | "),
        sample.pg_connections,
        q.open,
        q.processing,
        q.completed,
        q.failed,
        q.cancelled,
        sample.submitted,
        sample.posts,
        sample.post_p50,
        sample.post_p99,
        sample.readers_active,
        sample.work_entries
    );
    samples.push(sample);
    Ok(())
}
