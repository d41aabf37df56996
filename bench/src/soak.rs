//! `bench soak`: issue 7's load held. A real deployment on a fresh PostgreSQL database
//! (`scaffolder migrate`, one `api` process, `--workers` `worker` processes and a `janitor` loop)
//! takes tasks at a steady `--rate` for `--minutes`: a mix of a fast template (`fetch:template`
//! of a small skeleton, then `debug:log`), a slow one (`debug:wait`), a failing one, and slow ones
//! cancelled while open or running; some tasks have an SSE or long-poll reader of their events.
//! Every `--sample-seconds` it records each process's RSS, open file descriptors and threads,
//! PostgreSQL's connections to the database, the queue, the POST latency of the window and the
//! working directory's size (`samples.csv` in `--out`). Then the load stops, every task must end
//! as its template says and every workspace must be gone, and each metric gets a verdict
//! (`verdict`). Exits non-zero when a metric grows, a task does not end as expected, a process
//! dies, or a POST fails.
//!
//! Layout: `load` (the templates, the generator, the event readers, the outcome check), `sample`
//! (what is measured and the CSV), `summary` (the tables), `verdict` (bounded or growing).

mod load;
mod sample;
mod summary;
mod verdict;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::Connection;
use tokio::process::Command;

use super::Args;
use load::{IN_FLIGHT, Load};
use sample::{Phase, Process};

#[derive(clap::Args, Clone, Debug, PartialEq)]
pub(crate) struct SoakArgs {
    /// Tasks submitted per second, spread evenly.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// How long the load lasts.
    #[arg(long, default_value_t = 30.0)]
    minutes: f64,
    /// Seconds between samples.
    #[arg(long, default_value_t = 10)]
    sample_seconds: u64,
    /// Worker processes.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// `scaffolder.concurrentTasksLimit` of each worker.
    #[arg(long, default_value_t = 20)]
    worker_concurrency: usize,
    /// How long the slow template waits (`debug:wait`).
    #[arg(long, default_value_t = 3)]
    slow_seconds: u64,
    /// Highest RSS any process may reach, in MiB.
    #[arg(long, default_value_t = 512)]
    rss_cap_mib: u64,
    /// How long every task has to end once the load stops.
    #[arg(long, default_value_t = 300)]
    drain_seconds: u64,
    /// Where `samples.csv` goes.
    #[arg(long, default_value = "target/soak")]
    out: PathBuf,
}

/// Runs the soak; exits with status 1 (after every process and directory is cleaned up) when it
/// failed, with its problems already printed.
/// On SIGINT or SIGTERM the soak is dropped, and with it every process it started.
pub(crate) async fn run(args: &Args, options: &SoakArgs) -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let passed = tokio::select! {
        passed = soak(args, options) => passed?,
        _ = tokio::signal::ctrl_c() => false,
        _ = terminate.recv() => false,
    };
    if !passed {
        std::process::exit(1);
    }
    Ok(())
}

async fn soak(args: &Args, options: &SoakArgs) -> anyhow::Result<bool> {
    anyhow::ensure!(options.rate > 0.0 && options.minutes > 0.0, "--rate and --minutes must be positive");
    anyhow::ensure!(
        options.sample_seconds > 0 && options.workers > 0,
        "--sample-seconds and --workers must be positive"
    );
    let dir = match &args.scratch {
        Some(scratch) => tempfile::tempdir_in(scratch)?,
        None => tempfile::tempdir()?,
    };
    let templates = load::write_templates(dir.path(), options.slow_seconds)?;
    let url = super::fresh_database(&args.postgres).await?;
    let database = url.rsplit('/').next().unwrap_or_default().to_owned();
    let config = super::write_config(dir.path(), &templates, &format!("client: pg\n    connection: {url}"))?;
    let status = Command::new(&args.binary).arg("migrate").arg("--config").arg(&config).status().await?;
    anyhow::ensure!(status.success(), "scaffolder migrate failed");
    let api_config = dir.path().join("api.yaml");
    std::fs::write(&api_config, "scaffolder:\n  concurrentTasksLimit: 0\n")?;
    let worker_config = dir.path().join("worker.yaml");
    std::fs::write(&worker_config, format!("scaffolder:\n  concurrentTasksLimit: {}\n", options.worker_concurrency))?;
    // The janitor's full sweep (timeouts, retention) every minute instead of every five.
    let janitor_config = dir.path().join("janitor.yaml");
    std::fs::write(&janitor_config, "scaffolder:\n  taskTimeoutJanitorFrequency: 1m\n")?;

    let (api, base) = super::start(&args.binary, "api", &[&config, &api_config], dir.path()).await?;
    let mut processes = vec![Process::new("api", api)?];
    for n in 1..=options.workers {
        let (worker, _) = super::start(&args.binary, "worker", &[&config, &worker_config], dir.path()).await?;
        processes.push(Process::new(&format!("worker{n}"), worker)?);
    }
    let janitor = Command::new(&args.binary)
        .arg("janitor")
        .arg("--config")
        .arg(&config)
        .arg("--config")
        .arg(&janitor_config)
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting the janitor")?;
    processes.push(Process::new("janitor", janitor)?);
    let mut db = sqlx::PgConnection::connect(&url).await.context("PostgreSQL for sampling")?;
    let work = dir.path().join("work");
    println!(
        "soak: {} tasks/s for {} min, samples every {} s; {} worker(s) × {}; binary {}; database {database}; {}",
        options.rate,
        options.minutes,
        options.sample_seconds,
        options.workers,
        options.worker_concurrency,
        args.binary.display(),
        super::machine()
    );

    std::fs::create_dir_all(&options.out)?;
    let csv_path = options.out.join("samples.csv");
    let mut csv = std::fs::File::create(&csv_path).with_context(|| format!("creating {}", csv_path.display()))?;
    writeln!(csv, "{}", sample::csv_header(&processes))?;
    let names: Vec<String> = processes.iter().map(|p| p.name.clone()).collect();

    let load = Arc::new(Load::default());
    let load_time = Duration::from_secs_f64(options.minutes * 60.0);
    let started = Instant::now();
    let generator = tokio::spawn(load::generate(base.clone(), options.clone(), load.clone(), load_time));
    let mut samples = Vec::new();
    let mut ticks = tokio::time::interval(Duration::from_secs(options.sample_seconds));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while started.elapsed() < load_time {
        ticks.tick().await;
        let sample =
            sample::take_sample(&mut processes, &mut db, &database, &load, &work, started, Phase::Load).await?;
        sample::record(&mut csv, &names, sample, &mut samples)?;
    }

    // The drain: every task ends, every reader sees its completion, every workspace goes.
    let load_end = Instant::now();
    let mut problems = Vec::new();
    let mut last_sample = Instant::now();
    let drained = loop {
        let queue = sample::queue(&mut db).await?;
        let entries = sample::tree_size(work.clone()).await.0;
        if queue.open + queue.processing == 0 && load.readers_active() == 0 && generator.is_finished() && entries == 0 {
            break load_end.elapsed();
        }
        if load_end.elapsed() > Duration::from_secs(options.drain_seconds) {
            problems.push(format!(
                "not drained {} s after the load: {} open, {} processing, {} readers, {entries} working-directory entries",
                options.drain_seconds,
                queue.open,
                queue.processing,
                load.readers_active()
            ));
            break load_end.elapsed();
        }
        if last_sample.elapsed() >= Duration::from_secs(options.sample_seconds) {
            let sample =
                sample::take_sample(&mut processes, &mut db, &database, &load, &work, started, Phase::Drain).await?;
            sample::record(&mut csv, &names, sample, &mut samples)?;
            last_sample = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    generator.await?;
    let sample = sample::take_sample(&mut processes, &mut db, &database, &load, &work, started, Phase::Drained).await?;
    sample::record(&mut csv, &names, sample, &mut samples)?;

    problems.extend(load::check_outcomes(&mut db, &load).await?);
    let (skipped, post_errors, cancel_errors) = (
        load.skipped.load(Ordering::Relaxed),
        load.post_errors.load(Ordering::Relaxed),
        load.cancel_errors.load(Ordering::Relaxed),
    );
    if skipped + post_errors + cancel_errors > 0 {
        problems.push(format!(
            "{post_errors} POST errors, {cancel_errors} cancel errors, {skipped} ticks skipped ({IN_FLIGHT} POSTs in flight); first errors: {:?}",
            load.errors.lock().expect("not poisoned")
        ));
    }
    if load.readers_failed.load(Ordering::Relaxed) > 0 {
        problems.push(format!(
            "{} event readers did not see their completion; first errors: {:?}",
            load.readers_failed.load(Ordering::Relaxed),
            load.errors.lock().expect("not poisoned")
        ));
    }
    let growing = summary::summarise(&processes, &samples, options, &load, drained);
    println!("\nsoak: samples in {}", csv_path.display());
    drop(processes);
    drop(db);
    problems.extend(growing.into_iter().map(|name| format!("{name} grows")));
    if problems.is_empty() {
        drop_database(&args.postgres, &database).await;
        println!("soak: PASS: every metric bounded, every task ended as expected");
        Ok(true)
    } else {
        for problem in &problems {
            println!("soak: FAIL: {problem}");
        }
        println!("soak: database {database} kept for inspection");
        Ok(false)
    }
}

async fn drop_database(admin: &str, database: &str) {
    let Ok(mut connection) = sqlx::PgConnection::connect(admin).await else { return };
    // The name was built by `fresh_database` from numbers only.
    let statement = format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)");
    if let Err(error) = sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&mut connection).await {
        println!("soak: could not drop database {database}: {error}");
    }
}
