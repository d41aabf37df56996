//! `bench`: drives the `scaffolder` binary over HTTP (and, with `--peer`, the real Backstage
//! scaffolder through the same client) and prints medians and ratios for `BENCHMARKS.md`.
//!
//! Measures: `latency` (POST → completed, one task at a time), `throughput` (tasks submitted at
//! once, with the server's RSS idle and at peak), `dry-run` (`POST /v2/dry-run`), `pickup`
//! (enqueue → claimed on PostgreSQL, an API process and a worker process, from the database's own
//! clock). The template is the peer harness's `bench` template (a 50-file skeleton through
//! `fetch:template`, then `debug:log`), generated identically.
//!
//! Benchmarks are not tests: nothing here asserts a time.

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
    /// Files in the skeleton.
    #[arg(long, default_value_t = 50)]
    files: usize,
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand, Clone, Copy, PartialEq, Eq)]
enum What {
    /// POST → completed, one task at a time (p50, p99).
    Latency {
        #[arg(long, default_value_t = 100)]
        tasks: usize,
    },
    /// Tasks submitted at once until all complete (tasks/s), with RSS idle and at peak.
    Throughput {
        #[arg(long, default_value_t = 2000)]
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
    /// Everything above, with defaults.
    All,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    anyhow::ensure!(
        args.binary.is_file(),
        "{} does not exist: run `cargo build --release` first, or pass --binary",
        args.binary.display()
    );
    // The servers run in directories of their own.
    args.binary = args.binary.canonicalize()?;
    let dir = tempfile::tempdir()?;
    let template = write_template(dir.path(), args.files)?;
    println!("bench: {} files per task; binary {}; {}", args.files, args.binary.display(), machine());
    let all = args.what == What::All;
    if let (true, _) | (_, What::Latency { .. }) = (all, args.what) {
        let tasks = if let What::Latency { tasks } = args.what { tasks } else { 100 };
        for database in [Database::Sqlite, Database::Postgres] {
            let server = Server::serve(&args, dir.path(), &template, database).await?;
            let ours = latency(&server.url, tasks).await?;
            report(&format!("latency POST→completed, {database:?}, ours"), &ours);
            if let Some(peer) = &args.peer {
                let theirs = latency(peer, tasks.min(50)).await?;
                report("latency POST→completed, Backstage", &theirs);
                println!("  ratio p50: Backstage / ours = {:.1}×", percentile(&theirs, 50.0) / percentile(&ours, 50.0));
            }
        }
    }
    if let (true, _) | (_, What::Throughput { .. }) = (all, args.what) {
        let tasks = if let What::Throughput { tasks } = args.what { tasks } else { 2000 };
        for database in [Database::Sqlite, Database::Postgres] {
            let server = Server::serve(&args, dir.path(), &template, database).await?;
            let (rate, idle, peak) = throughput(&server.url, tasks, server.pid()).await?;
            println!(
                "throughput {database:?}, ours: {tasks} tasks, {rate:.1} tasks/s; RSS idle {} MiB, peak {} MiB",
                idle / 1024,
                peak / 1024
            );
            if let Some(peer) = &args.peer {
                let (theirs, idle, peak) = throughput(peer, 200, args.peer_pid).await?;
                println!(
                    "throughput Backstage: 200 tasks, {theirs:.1} tasks/s; RSS idle {} MiB, peak {} MiB",
                    idle / 1024,
                    peak / 1024
                );
                println!("  ratio: ours / Backstage = {:.1}×", rate / theirs);
            }
        }
    }
    if let (true, _) | (_, What::DryRun { .. }) = (all, args.what) {
        let runs = if let What::DryRun { runs } = args.what { runs } else { 100 };
        let server = Server::serve(&args, dir.path(), &template, Database::Sqlite).await?;
        let body = dry_run_body(&template)?;
        let ours = dry_runs(&server.url, &body, runs).await?;
        report("dry-run, ours", &ours);
        if let Some(peer) = &args.peer {
            let theirs = dry_runs(peer, &body, runs.min(50)).await?;
            report("dry-run, Backstage", &theirs);
            println!("  ratio p50: Backstage / ours = {:.1}×", percentile(&theirs, 50.0) / percentile(&ours, 50.0));
        }
    }
    if let (true, _) | (_, What::Pickup { .. }) = (all, args.what) {
        let tasks = if let What::Pickup { tasks } = args.what { tasks } else { 200 };
        let pickups = pickup(&args, dir.path(), &template, tasks).await?;
        report("enqueue→claimed, PostgreSQL, api + worker processes", &pickups);
    }
    Ok(())
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
        let (child, url) = start(&args.binary, "serve", &[&config], dir.path()).await?;
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
async fn until_completed(client: &reqwest::Client, base: &str, id: &str) -> anyhow::Result<()> {
    let response = client.get(format!("{base}/api/scaffolder/v2/tasks/{id}/eventstream")).send().await?;
    let mut stream = response.bytes_stream();
    let mut seen = String::new();
    while let Some(chunk) = stream.next().await {
        seen.push_str(&String::from_utf8_lossy(&chunk?));
        if seen.contains("event: completion") {
            if !seen.contains("Run completed with status: completed") {
                bail!("task {id} did not complete: {seen}");
            }
            return Ok(());
        }
    }
    bail!("the event stream of {id} ended without a completion")
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
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                stack.push(entry.path());
            } else {
                let relative = entry.path().strip_prefix(root)?.display().to_string();
                contents.push(json!({"path": relative, "base64Content": encode(&std::fs::read(entry.path())?)}));
            }
        }
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
