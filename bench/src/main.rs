//! `bench`: drives the `scaffolder` binary over HTTP (and, with `--peer`, the real Backstage
//! scaffolder through the same client and the same template) and prints medians and ratios for
//! `BENCHMARKS.md`.
//!
//! Measures (issue 6): `latency` (POST → completed, one task at a time), `throughput` (tasks
//! submitted at once, with the server's RSS idle and at peak), `dry-run` (`POST /v2/dry-run`),
//! `pickup` (enqueue → claimed on PostgreSQL, an API process and a worker process, from the
//! database's own clock), `queue` (draining pre-enqueued no-op tasks on PostgreSQL against
//! `pgbench -N` in the same run), `files` (`fetch:template` of a 5,000-file, 20 MB skeleton against
//! `cp -r` of the same tree plus one render pass). The template is the peer harness's `bench`
//! template (a 50-file skeleton through `fetch:template`, then `debug:log`), generated identically.
//! With a peer, every measure that both can run alternates them (ours, Backstage, ours, ...) for
//! `--rounds` rounds and reports the median of each side and their ratio.
//!
//! Benchmarks are not tests: nothing here asserts a time.

mod soak;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

#[derive(Parser)]
#[command(about = "Benchmarks of scaffolder, optionally side by side with the Backstage peer")]
struct Args {
    /// The scaffolder binary (build it with `cargo build --release`).
    #[arg(long, default_value = "target/release/scaffolder")]
    binary: PathBuf,
    /// PostgreSQL server for the PostgreSQL runs; each run creates a fresh database.
    #[arg(long, env = "SCAFFOLDER_TEST_DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres: String,
    /// The Backstage peer's base URL (e.g. http://127.0.0.1:7007), already started with its
    /// `bench` template; the same client then measures it too, alternating with ours.
    #[arg(long)]
    peer: Option<String>,
    /// The peer's process id, for its RSS.
    #[arg(long)]
    peer_pid: Option<u32>,
    /// Files in the skeleton of the `bench` template.
    #[arg(long, default_value_t = 50)]
    files: usize,
    /// Rounds of each side-by-side measure (ours, Backstage, ours, Backstage, ...).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Where servers keep their databases and task workspaces (default: the system's temporary
    /// directory, where Backstage keeps its workspaces too).
    #[arg(long)]
    scratch: Option<PathBuf>,
    /// `scaffolder.concurrentTasksLimit` of our server (Backstage's default and ours is 10; the
    /// peer keeps its own configuration).
    #[arg(long, default_value_t = 10)]
    concurrency: usize,
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand, Clone, PartialEq)]
enum What {
    /// POST → completed, one task at a time, polling `GET /v2/tasks/:id` every 5 ms (p50, p99).
    Latency {
        #[arg(long, default_value_t = 100)]
        tasks: usize,
    },
    /// Tasks submitted at once until all complete (tasks/s), with RSS idle and at peak.
    Throughput {
        #[arg(long, default_value_t = 3000)]
        tasks: usize,
    },
    /// `POST /v2/dry-run` of the bench template (p50).
    DryRun {
        #[arg(long, default_value_t = 100)]
        runs: usize,
    },
    /// Enqueue → claimed on PostgreSQL with idle workers, API and worker in separate processes.
    Pickup {
        #[arg(long, default_value_t = 200)]
        tasks: usize,
    },
    /// Draining pre-enqueued no-op tasks on PostgreSQL against `pgbench -N -c 8 -j 2`.
    Queue {
        #[arg(long, default_value_t = 20_000)]
        tasks: usize,
        /// Worker processes draining the queue.
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// `scaffolder.concurrentTasksLimit` of each worker.
        #[arg(long, default_value_t = 200)]
        concurrency: usize,
    },
    /// `fetch:template` of a large skeleton against `cp -r` of it plus one render pass.
    Files {
        #[arg(long, default_value_t = 5000)]
        count: usize,
        /// Total size of the skeleton in MB.
        #[arg(long, default_value_t = 20)]
        megabytes: usize,
    },
    /// Everything above, with defaults.
    All,
    /// Load held: a real api + workers + janitor deployment on PostgreSQL at a steady rate, with
    /// memory, file descriptors, connections and queue depth sampled (`soak.rs`; not in `all`).
    Soak(soak::SoakArgs),
}

/// One line of the final table.
struct Row {
    measure: String,
    ours: String,
    theirs: String,
    ratio: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    anyhow::ensure!(
        args.binary.is_file(),
        "{} does not exist: run `cargo build --release` first, or pass --binary",
        args.binary.display()
    );
    anyhow::ensure!(args.rounds > 0, "--rounds must be at least 1");
    // The servers run in directories of their own.
    args.binary = args.binary.canonicalize()?;
    if let What::Soak(options) = &args.what {
        return soak::run(&args, options).await;
    }
    let dir = match &args.scratch {
        Some(scratch) => tempfile::tempdir_in(scratch)?,
        None => tempfile::tempdir()?,
    };
    let template = write_template(dir.path(), args.files)?;
    println!("bench: {} files per task; binary {}; {}", args.files, args.binary.display(), machine());
    if let Ok(pressure) = std::fs::read_to_string("/proc/pressure/cpu") {
        println!("bench: /proc/pressure/cpu at start: {}", pressure.lines().next().unwrap_or_default());
    }
    let all = args.what == What::All;
    let mut rows = Vec::new();
    if let (true, _) | (_, What::Latency { .. }) = (all, &args.what) {
        let tasks = if let What::Latency { tasks } = args.what { tasks } else { 100 };
        for database in [Database::Sqlite, Database::Postgres] {
            let server = Server::serve(&args, dir.path(), &template, database).await?;
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            for round in 1..=args.rounds {
                let times = latency(&server.url, tasks).await?;
                report(&format!("[round {round}] latency POST→completed, {database:?}, ours"), &times);
                ours.push(percentile(&times, 50.0));
                if let Some(peer) = &args.peer {
                    let times = latency(peer, tasks.min(50)).await?;
                    report(&format!("[round {round}] latency POST→completed, Backstage"), &times);
                    theirs.push(percentile(&times, 50.0));
                }
            }
            rows.push(side_by_side(
                &format!("POST → completed p50, one at a time ({database:?})"),
                &ours,
                &theirs,
                "ms",
                Better::Lower,
            ));
        }
    }
    if let (true, _) | (_, What::Throughput { .. }) = (all, &args.what) {
        let tasks = if let What::Throughput { tasks } = args.what { tasks } else { 3000 };
        for database in [Database::Sqlite, Database::Postgres] {
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            let (mut our_idle, mut our_peak, mut their_idle, mut their_peak) = (0, 0, 0, 0);
            for round in 1..=args.rounds {
                // A fresh server per round: the idle RSS is the server's after start-up.
                let server = Server::serve(&args, dir.path(), &template, database).await?;
                let (rate, idle, peak) = throughput(&server.url, tasks, server.pid()).await?;
                println!(
                    "[round {round}] throughput {database:?}, ours: {tasks} tasks, {rate:.1} tasks/s; RSS idle {} MiB, peak {} MiB",
                    idle / 1024,
                    peak / 1024
                );
                drop(server);
                ours.push(rate);
                our_idle = our_idle.max(idle);
                our_peak = our_peak.max(peak);
                if let Some(peer) = &args.peer {
                    let (rate, idle, peak) = throughput(peer, 200, args.peer_pid).await?;
                    println!(
                        "[round {round}] throughput Backstage: 200 tasks, {rate:.1} tasks/s; RSS idle {} MiB, peak {} MiB",
                        idle / 1024,
                        peak / 1024
                    );
                    theirs.push(rate);
                    their_idle = their_idle.max(idle);
                    their_peak = their_peak.max(peak);
                }
            }
            rows.push(side_by_side(
                &format!("throughput, tasks/s ({database:?}; ours {tasks} tasks, Backstage 200)"),
                &ours,
                &theirs,
                "tasks/s",
                Better::Higher,
            ));
            rows.push(Row {
                measure: format!("RSS idle / peak, highest of the rounds ({database:?})"),
                ours: format!("{} / {} MiB", our_idle / 1024, our_peak / 1024),
                theirs: if args.peer.is_some() {
                    format!("{} / {} MiB", their_idle / 1024, their_peak / 1024)
                } else {
                    "—".to_owned()
                },
                ratio: String::new(),
            });
        }
    }
    if let (true, _) | (_, What::DryRun { .. }) = (all, &args.what) {
        let runs = if let What::DryRun { runs } = args.what { runs } else { 100 };
        let server = Server::serve(&args, dir.path(), &template, Database::Sqlite).await?;
        let body = dry_run_body(&template)?;
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for round in 1..=args.rounds {
            let times = dry_runs(&server.url, &body, runs).await?;
            report(&format!("[round {round}] dry-run, ours"), &times);
            ours.push(percentile(&times, 50.0));
            if let Some(peer) = &args.peer {
                let times = dry_runs(peer, &body, runs.min(50)).await?;
                report(&format!("[round {round}] dry-run, Backstage"), &times);
                theirs.push(percentile(&times, 50.0));
            }
        }
        rows.push(side_by_side("dry-run of the bench template, p50", &ours, &theirs, "ms", Better::Lower));
    }
    if let (true, _) | (_, What::Pickup { .. }) = (all, &args.what) {
        let tasks = if let What::Pickup { tasks } = args.what { tasks } else { 200 };
        let pickups = pickup(&args, dir.path(), &template, tasks).await?;
        report("enqueue→claimed, PostgreSQL, api + worker processes", &pickups);
        rows.push(Row {
            measure: "enqueue → claimed, PostgreSQL, idle worker, p50 / p99".to_owned(),
            ours: format!("{:.2} / {:.2} ms", percentile(&pickups, 50.0), percentile(&pickups, 99.0)),
            theirs: "—".to_owned(),
            ratio: String::new(),
        });
    }
    if let (true, _) | (_, What::Queue { .. }) = (all, &args.what) {
        let (tasks, workers, concurrency) = match args.what {
            What::Queue { tasks, workers, concurrency } => (tasks, workers, concurrency),
            _ => (20_000, 2, 200),
        };
        let (drain, pgbench) = queue_drain(&args, dir.path(), tasks, workers, concurrency).await?;
        rows.push(Row {
            measure: format!(
                "queue: drain {tasks} no-op tasks, PostgreSQL, {workers} workers × {concurrency} (vs `pgbench -N -c 8 -j 2` tx/s)"
            ),
            ours: format!("{drain:.0} tasks/s"),
            theirs: format!("pgbench {pgbench:.0} tx/s"),
            ratio: format!("{:.0} %", drain / pgbench * 100.0),
        });
    }
    if let (true, _) | (_, What::Files { .. }) = (all, &args.what) {
        let (count, megabytes) = match args.what {
            What::Files { count, megabytes } => (count, megabytes),
            _ => (5000, 20),
        };
        let (ours, baseline) = big_skeleton(&args, dir.path(), count, megabytes).await?;
        rows.push(Row {
            measure: format!("fetch:template of {count} files, {megabytes} MB (vs `cp -r` + one render pass)"),
            ours: format!("{ours:.0} ms"),
            theirs: format!("baseline {baseline:.0} ms"),
            ratio: format!("{:.2}× the baseline", ours / baseline),
        });
    }

    println!();
    println!("| measure | ours | Backstage (or baseline) | ratio |");
    println!("|---|---|---|---|");
    for row in rows {
        println!("| {} | {} | {} | {} |", row.measure, row.ours, row.theirs, row.ratio);
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Better {
    Lower,
    Higher,
}

/// Medians of each side's rounds and how far ahead we are.
fn side_by_side(measure: &str, ours: &[f64], theirs: &[f64], unit: &str, better: Better) -> Row {
    let (ours, theirs_median) = (median(ours), median(theirs));
    let values =
        |v: f64, n: usize| if n > 1 { format!("{v:.1} {unit} (median of {n})") } else { format!("{v:.1} {unit}") };
    if theirs.is_empty() {
        return Row {
            measure: measure.to_owned(),
            ours: values(ours, 0),
            theirs: "—".to_owned(),
            ratio: String::new(),
        };
    }
    let ratio = match better {
        Better::Lower => theirs_median / ours,
        Better::Higher => ours / theirs_median,
    };
    Row {
        measure: measure.to_owned(),
        ours: values(ours, theirs.len()),
        theirs: values(theirs_median, theirs.len()),
        ratio: format!("{ratio:.1}× ahead"),
    }
}

fn median(values: &[f64]) -> f64 {
    percentile(values, 50.0)
}

/// A template with no steps: what the queue alone costs.
fn write_noop_template(root: &Path) -> anyhow::Result<PathBuf> {
    let dir = root.join("templates/noop");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("template.yaml");
    std::fs::write(
        &path,
        "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata:\n  name: noop\n  title: No-op\nspec:\n  owner: user:guest\n  type: service\n  parameters: []\n  steps: []\n",
    )?;
    Ok(path)
}

/// `scaffolder migrate` and an API process without workers on a fresh PostgreSQL database;
/// `tasks` no-op tasks posted; then `workers` worker processes start and drain the queue.
/// Returns tasks/s (first claim to last completion, from PostgreSQL's clock) and the tx/s of
/// `pgbench -N -c 8 -j 2 -T 15` on the same server right after.
async fn queue_drain(
    args: &Args,
    root: &Path,
    tasks: usize,
    workers: usize,
    concurrency: usize,
) -> anyhow::Result<(f64, f64)> {
    let dir = tempfile::tempdir_in(root)?;
    let template = write_noop_template(dir.path())?;
    let url = fresh_database(&args.postgres).await?;
    let config = write_config(dir.path(), &template, &format!("client: pg\n    connection: {url}"))?;
    let status = Command::new(&args.binary).arg("migrate").arg("--config").arg(&config).status().await?;
    anyhow::ensure!(status.success(), "scaffolder migrate failed");
    let api_config = dir.path().join("api.yaml");
    std::fs::write(&api_config, "scaffolder:\n  concurrentTasksLimit: 0\n")?;
    let (_api, base) = start(&args.binary, "api", &[&config, &api_config], dir.path()).await?;
    let client = client();
    let started = Instant::now();
    let created: Vec<anyhow::Result<String>> = futures::stream::iter(0..tasks)
        .map(|_| {
            let client = &client;
            let base = &base;
            async move {
                let response = client
                    .post(format!("{base}/api/scaffolder/v2/tasks"))
                    .json(&json!({"templateRef": "template:default/noop", "values": {}}))
                    .send()
                    .await?;
                anyhow::ensure!(response.status().as_u16() == 201, "POST answered {}", response.status());
                Ok(String::new())
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    for result in created {
        result?;
    }
    println!("queue: {tasks} tasks enqueued in {:.1} s", started.elapsed().as_secs_f64());

    let worker_config = dir.path().join("worker.yaml");
    std::fs::write(&worker_config, format!("scaffolder:\n  concurrentTasksLimit: {concurrency}\n"))?;
    let mut running = Vec::new();
    for _ in 0..workers {
        running.push(start(&args.binary, "worker", &[&config, &worker_config], dir.path()).await?.0);
    }
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(&url).await?;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let (done,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM scaffolder.tasks WHERE status IN ('completed', 'failed')")
                .fetch_one(&mut connection)
                .await?;
        if done as usize >= tasks {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "the queue did not drain in 10 minutes ({done} of {tasks})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (failed, seconds): (i64, f64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status <> 'completed'),
                EXTRACT(EPOCH FROM max(completed_at) - min(claimed_at))::float8
         FROM scaffolder.tasks",
    )
    .fetch_one(&mut connection)
    .await?;
    anyhow::ensure!(failed == 0, "{failed} no-op tasks did not complete");
    drop(running);
    let drain = tasks as f64 / seconds;
    println!("queue: {tasks} tasks drained in {seconds:.2} s = {drain:.0} tasks/s ({workers} workers × {concurrency})");

    // pgbench on the same server, in the same run.
    let bench_db = fresh_database(&args.postgres).await?;
    let output = Command::new("pgbench").args(["-i", "-s", "10", "-q", &bench_db]).output().await;
    let output = output.context("pgbench is not installed (Debian: postgresql-contrib / postgresql-client)")?;
    anyhow::ensure!(output.status.success(), "pgbench -i failed: {}", String::from_utf8_lossy(&output.stderr));
    let output = Command::new("pgbench").args(["-N", "-c", "8", "-j", "2", "-T", "15", &bench_db]).output().await?;
    anyhow::ensure!(output.status.success(), "pgbench failed: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout);
    let tps = text
        .lines()
        .find_map(|line| line.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .context("no tps in pgbench's output")?;
    println!("queue: pgbench -N -c 8 -j 2 -T 15: {tps:.0} tx/s; drain / pgbench = {:.0} %", drain / tps * 100.0);
    Ok((drain, tps))
}

/// A skeleton of `count` files and `megabytes` MB in 50 directories, every file with template
/// expressions; `fetch:template` of it through `serve` (POST → completed, median of three) against
/// `cp -r` of it (median of three) plus one render pass of every file with the same renderer.
async fn big_skeleton(args: &Args, root: &Path, count: usize, megabytes: usize) -> anyhow::Result<(f64, f64)> {
    let dir = tempfile::tempdir_in(root)?;
    let template_dir = dir.path().join("templates/big");
    let skeleton = template_dir.join("skeleton");
    let per_file = megabytes * 1_000_000 / count.max(1);
    let line = "lorem ipsum dolor sit amet, ${{ values.name }} consectetur adipiscing elit ${{ values.owner }}\n";
    for i in 0..count {
        let sub = skeleton.join(format!("dir{}", i % 50));
        std::fs::create_dir_all(&sub)?;
        let mut text = format!("# File {i} of ${{{{ values.name }}}}\n");
        while text.len() + line.len() <= per_file {
            text.push_str(line);
        }
        std::fs::write(sub.join(format!("file{i}.txt")), text)?;
    }
    std::fs::write(
        template_dir.join("template.yaml"),
        "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata:\n  name: big\nspec:\n  owner: user:guest\n  type: service\n  steps:\n    - id: fetch\n      name: Fetch\n      action: fetch:template\n      input:\n        url: ./skeleton\n        targetPath: ./out\n        values:\n          name: ${{ parameters.name }}\n          owner: bench\n",
    )?;

    // The baseline: cp -r into the same file system, then one render pass in memory.
    let mut copies = Vec::new();
    for round in 0..3 {
        let target = dir.path().join(format!("copy{round}"));
        let started = Instant::now();
        let status = Command::new("cp").arg("-r").arg(&skeleton).arg(&target).status().await?;
        anyhow::ensure!(status.success(), "cp -r failed");
        copies.push(started.elapsed().as_secs_f64() * 1000.0);
        std::fs::remove_dir_all(&target)?;
    }
    let renderer = templates::Renderer::with_options(&templates::RenderOptions::default());
    let context = templates::RenderContext::new().with("values", json!({"name": "big", "owner": "bench"}));
    let mut texts = Vec::new();
    for entry in walk_files(&skeleton)? {
        texts.push(std::fs::read_to_string(entry)?);
    }
    let started = Instant::now();
    for text in &texts {
        renderer.render_text(text, &context).map_err(|e| anyhow::anyhow!("render: {}", e.message))?;
    }
    let render = started.elapsed().as_secs_f64() * 1000.0;
    let baseline = median(&copies) + render;
    println!("files: cp -r median {:.0} ms + one render pass {render:.0} ms = {baseline:.0} ms", median(&copies));

    let server = Server::serve(args, dir.path(), &template_dir.join("template.yaml"), Database::Sqlite).await?;
    let client = client();
    let mut ours = Vec::new();
    for round in 0..3 {
        let started = Instant::now();
        let response = client
            .post(format!("{}/api/scaffolder/v2/tasks", server.url))
            .json(&json!({"templateRef": "template:default/big", "values": {"name": format!("big{round}")}}))
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        anyhow::ensure!(status.as_u16() == 201, "POST answered {status}: {body}");
        until_completed(&client, &server.url, body["id"].as_str().context("no id")?).await?;
        ours.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    println!("files: fetch:template of {count} files, POST → completed: {ours:.0?} ms");
    Ok((median(&ours), baseline))
}

fn walk_files(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                stack.push(entry.path());
            } else {
                out.push(entry.path());
            }
        }
    }
    Ok(out)
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    format!("{cores} cores, {model}")
}

/// The peer harness's bench template (`gen-skeleton.js`), byte for byte in its contents.
fn write_template(root: &Path, files: usize) -> anyhow::Result<PathBuf> {
    let dir = root.join("templates/bench");
    let skeleton = dir.join("skeleton");
    for i in 0..files {
        let sub = if i % 5 == 0 { "${{ values.name }}-dir".to_owned() } else { format!("dir{}", i % 5) };
        std::fs::create_dir_all(skeleton.join(&sub))?;
        let text = [
            format!("# File {i} for ${{{{ values.name }}}}"),
            "name: ${{ values.name }}".to_owned(),
            "owner: ${{ values.owner }}".to_owned(),
            "description: ${{ values.description | default(\"none\") }}".to_owned(),
            "upper: ${{ values.name | upper }}".to_owned(),
            format!("line {i}: lorem ipsum dolor sit amet, consectetur adipiscing elit."),
            String::new(),
        ]
        .join("\n");
        std::fs::write(skeleton.join(&sub).join(format!("file{i}-${{{{ values.name }}}}.txt")), text)?;
    }
    let template = format!(
        r#"apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: bench
  title: Bench template
  description: fetch:template of a {files}-file skeleton, then debug:log
spec:
  owner: user:guest
  type: service
  parameters:
    - title: Basics
      required:
        - name
      properties:
        name:
          title: Name
          type: string
        owner:
          title: Owner
          type: string
        description:
          title: Description
          type: string
  steps:
    - id: fetch
      name: Fetch skeleton
      action: fetch:template
      input:
        url: ./skeleton
        targetPath: ./out
        values:
          name: ${{{{ parameters.name }}}}
          owner: ${{{{ parameters.owner }}}}
          description: ${{{{ parameters.description }}}}
    - id: log
      name: Log
      action: debug:log
      input:
        message: 'Hello, ${{{{ parameters.name }}}}!'
        listWorkspace: false
  output:
    text:
      - title: Result
        content: 'Created ${{{{ parameters.name }}}}'
"#
    );
    let path = dir.join("template.yaml");
    std::fs::write(&path, template)?;
    Ok(path)
}

#[derive(Clone, Copy, Debug)]
enum Database {
    Sqlite,
    Postgres,
}

struct Server {
    children: Vec<Child>,
    url: String,
    _dir: tempfile::TempDir,
}

impl Server {
    /// `scaffolder serve` on a fresh database of its own.
    async fn serve(args: &Args, root: &Path, template: &Path, database: Database) -> anyhow::Result<Server> {
        let dir = tempfile::tempdir_in(root)?;
        let db = match database {
            Database::Sqlite => format!(
                "client: better-sqlite3\n    connection: {{ filename: {} }}",
                dir.path().join("db.sqlite").display()
            ),
            Database::Postgres => format!("client: pg\n    connection: {}", fresh_database(&args.postgres).await?),
        };
        let config = write_config(dir.path(), template, &db)?;
        let limit = dir.path().join("concurrency.yaml");
        std::fs::write(&limit, format!("scaffolder:\n  concurrentTasksLimit: {}\n", args.concurrency))?;
        let (child, url) = start(&args.binary, "serve", &[&config, &limit], dir.path()).await?;
        Ok(Server { children: vec![child], url, _dir: dir })
    }

    fn pid(&self) -> Option<u32> {
        self.children.first().and_then(Child::id)
    }
}

fn write_config(dir: &Path, template: &Path, database: &str) -> anyhow::Result<PathBuf> {
    let config = format!(
        r#"backend:
  listen: {{ host: 127.0.0.1, port: 0 }}
  database:
    {database}
  workingDirectory: {work}
  auth: {{ dangerouslyDisableDefaultAuthPolicy: true }}
scaffolder:
  concurrentTasksLimit: 10
  maxQueueDepth: 1000000
catalog:
  rules: [{{ allow: [Template, Location] }}]
  locations: [{{ type: file, target: {template} }}]
"#,
        work = dir.join("work").display(),
        template = template.display()
    );
    let path = dir.join("app-config.yaml");
    std::fs::write(&path, config)?;
    Ok(path)
}

async fn fresh_database(admin: &str) -> anyhow::Result<String> {
    use sqlx::Connection;
    let name = format!("bench_{}", std::process::id() as u64 * 1000 + fastish_counter());
    let mut connection = sqlx::PgConnection::connect(admin).await.context("PostgreSQL for the bench")?;
    // The name is built here from numbers only.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut connection).await?;
    let base = admin.rsplit_once('/').map(|(base, _)| base).unwrap_or(admin);
    Ok(format!("{base}/{name}"))
}

fn fastish_counter() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Starts `binary command --config ...` (later files win) and waits for `scaffolder listening on <url>`.
async fn start(binary: &Path, command: &str, configs: &[&Path], cwd: &Path) -> anyhow::Result<(Child, String)> {
    let mut child = Command::new(binary);
    child.arg(command);
    for config in configs {
        child.arg("--config").arg(config);
    }
    let mut child = child
        .current_dir(cwd)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(url) = line.strip_prefix("scaffolder listening on ") {
                return Some(url.trim().to_owned());
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .context("the server did not start")?;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, url))
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().pool_max_idle_per_host(64).build().expect("an HTTP client")
}

async fn create(client: &reqwest::Client, base: &str, i: usize) -> anyhow::Result<String> {
    let response = client
        .post(format!("{base}/api/scaffolder/v2/tasks"))
        .json(&json!({"templateRef": "template:default/bench", "values": {"name": format!("svc{i}"), "owner": "bench", "description": format!("bench task {i}")}}))
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await?;
    if status.as_u16() != 201 {
        bail!("POST /v2/tasks answered {status}: {body}");
    }
    Ok(body["id"].as_str().context("no id")?.to_owned())
}

/// Reads the task's event stream until its completion event.
/// Waits for the task to complete by polling `GET /v2/tasks/:id` every 5 ms, as the peer
/// harness's `bench.js` does. (Watching the event stream instead would charge Backstage its
/// event stream's one-second database poll: p50 about 1,020 ms there.)
async fn until_completed(client: &reqwest::Client, base: &str, id: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let body: Value = client.get(format!("{base}/api/scaffolder/v2/tasks/{id}")).send().await?.json().await?;
        match body["status"].as_str() {
            Some("completed") => return Ok(()),
            Some("failed" | "cancelled") => bail!("task {id} did not complete: {body}"),
            _ => {}
        }
        anyhow::ensure!(Instant::now() < deadline, "task {id} did not finish in 5 minutes");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn latency(base: &str, tasks: usize) -> anyhow::Result<Vec<f64>> {
    let client = client();
    // Warm up: connections, caches, the first workspace.
    for i in 0..3 {
        let id = create(&client, base, i).await?;
        until_completed(&client, base, &id).await?;
    }
    let mut times = Vec::with_capacity(tasks);
    for i in 0..tasks {
        let started = Instant::now();
        let id = create(&client, base, i).await?;
        until_completed(&client, base, &id).await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(times)
}

/// KiB of resident memory of `pid`.
fn rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|text| {
            text.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn count(client: &reqwest::Client, base: &str, status: &str) -> anyhow::Result<u64> {
    let body: Value =
        client.get(format!("{base}/api/scaffolder/v2/tasks?status={status}&limit=1")).send().await?.json().await?;
    Ok(body["totalTasks"].as_u64().unwrap_or(0))
}

/// Submits `tasks` at once (64 requests in flight) and waits for all; tasks/s from the first POST
/// to the last completion, and RSS (KiB) idle and at peak.
async fn throughput(base: &str, tasks: usize, pid: Option<u32>) -> anyhow::Result<(f64, u64, u64)> {
    let client = client();
    let before = count(&client, base, "completed").await?;
    let idle = pid.map(rss).unwrap_or(0);
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(idle));
    let sampling = pid.map(|pid| {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss(pid), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    });
    let started = Instant::now();
    let created: Vec<anyhow::Result<String>> =
        futures::stream::iter(0..tasks).map(|i| create(&client, base, i)).buffer_unordered(64).collect().await;
    for result in created {
        result?;
    }
    loop {
        let done = count(&client, base, "completed").await? - before;
        let failed = count(&client, base, "failed").await?;
        if failed > 0 {
            bail!("{failed} tasks failed");
        }
        if done >= tasks as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(sampling) = sampling {
        sampling.abort();
    }
    Ok((tasks as f64 / elapsed, idle, peak.load(std::sync::atomic::Ordering::Relaxed)))
}

/// Backstage's dry-run body: the template entity and every skeleton file, base64.
fn dry_run_body(template: &Path) -> anyhow::Result<Value> {
    use base64::Engine;
    let encode = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let text = std::fs::read_to_string(template)?;
    let entity: Value = serde_norway::from_str(&text)?;
    let root = template.parent().expect("a directory");
    let mut contents = Vec::new();
    for file in walk_files(root)? {
        let relative = file.strip_prefix(root)?.display().to_string();
        contents.push(json!({"path": relative, "base64Content": encode(&std::fs::read(&file)?)}));
    }
    Ok(json!({
        "template": entity,
        "values": {"name": "dry", "owner": "bench", "description": "dry run"},
        "secrets": {},
        "directoryContents": contents,
    }))
}

async fn dry_runs(base: &str, body: &Value, runs: usize) -> anyhow::Result<Vec<f64>> {
    let client = client();
    let mut times = Vec::with_capacity(runs);
    for i in 0..runs + 3 {
        let started = Instant::now();
        let response = client.post(format!("{base}/api/scaffolder/v2/dry-run")).json(body).send().await?;
        let status = response.status();
        let answer: Value = response.json().await?;
        if status.as_u16() != 200 || answer["directoryContents"].as_array().is_none_or(Vec::is_empty) {
            bail!("dry-run answered {status}: {}", answer.to_string().chars().take(400).collect::<String>());
        }
        if i >= 3 {
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    Ok(times)
}

/// `scaffolder migrate`, one `api` process and one `worker` process on a fresh PostgreSQL
/// database; tasks posted one at a time with idle workers; claimed_at − created_at as PostgreSQL
/// recorded them.
async fn pickup(args: &Args, root: &Path, template: &Path, tasks: usize) -> anyhow::Result<Vec<f64>> {
    let dir = tempfile::tempdir_in(root)?;
    let url = fresh_database(&args.postgres).await?;
    let config = write_config(dir.path(), template, &format!("client: pg\n    connection: {url}"))?;
    let status = Command::new(&args.binary).arg("migrate").arg("--config").arg(&config).status().await?;
    anyhow::ensure!(status.success(), "scaffolder migrate failed");
    let api_config = dir.path().join("api.yaml");
    std::fs::write(&api_config, "scaffolder:\n  concurrentTasksLimit: 0\n")?;
    let (_api, base) = start(&args.binary, "api", &[&config, &api_config], dir.path()).await?;
    let (_worker, _) = start(&args.binary, "worker", &[&config], dir.path()).await?;
    let client = client();
    for i in 0..tasks + 3 {
        let id = create(&client, &base, i).await?;
        until_completed(&client, &base, &id).await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(&url).await?;
    let rows: Vec<(f64,)> = sqlx::query_as(
        "SELECT EXTRACT(EPOCH FROM (claimed_at - created_at))::float8 * 1000 FROM scaffolder.tasks ORDER BY created_at OFFSET 3",
    )
    .fetch_all(&mut connection)
    .await?;
    Ok(rows.into_iter().map(|(ms,)| ms).collect())
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn report(what: &str, values: &[f64]) {
    println!(
        "{what}: n={} p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms",
        values.len(),
        percentile(values, 50.0),
        percentile(values, 90.0),
        percentile(values, 99.0)
    );
}
