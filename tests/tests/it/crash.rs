//! The crash suite (issue 7): a storm over a real deployment on its own PostgreSQL cluster. API
//! and worker processes take a steady stream of fast, slow, failing and side-effecting tasks (all
//! carrying secrets) while they are killed with `kill -9`, stopped with SIGTERM, paused with
//! SIGSTOP past the stale timeout and resumed, and while PostgreSQL is restarted hard. Afterwards:
//! every task is terminal, no side effect of a task ran twice at the same time, every task's
//! events are ordered and complete, and no secret is left in any row or any log.
//!
//! The suite runs a reduced storm (20 s). `scripts/crash` runs a long one with the same code;
//! `CRASH_SECONDS`, `CRASH_RATE` (tasks/s), `CRASH_WORKERS`, `CRASH_APIS`, `CRASH_BLOW_MS` (time
//! between blows), `CRASH_SEED` and `CRASH_REPORT` (a JSON file for the counts) tune it.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::postgres::PgPool;

use crate::support::cluster::Cluster;
use crate::support::deployment::{Deployment, post_with_secrets};
use crate::support::process::Scaffolder;
use crate::support::{eventually, quick_template, slow_template};

/// Seconds without a heartbeat after which a worker counts as gone.
const STALE_SECONDS: u64 = 3;
/// How long the stand-in service takes to perform one side effect.
const EFFECT_TIME: Duration = Duration::from_millis(400);
/// Marks every secret; nothing containing it may be stored or logged once tasks end.
const SECRET_MARK: &str = "crash-secret-";

struct Settings {
    seconds: u64,
    rate: f64,
    workers: usize,
    apis: usize,
    blow_every: Duration,
    seed: u64,
    report: Option<std::path::PathBuf>,
}

impl Settings {
    fn from_env() -> Settings {
        fn var<T: std::str::FromStr>(name: &str, default: T) -> T {
            std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
        }
        let clock = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
        Settings {
            seconds: var("CRASH_SECONDS", 20),
            rate: var("CRASH_RATE", 8.0),
            workers: var("CRASH_WORKERS", 3usize).max(2),
            apis: var("CRASH_APIS", 2usize).max(1),
            blow_every: Duration::from_millis(var("CRASH_BLOW_MS", 2500)),
            seed: var("CRASH_SEED", clock | 1),
            report: std::env::var_os("CRASH_REPORT").map(Into::into),
        }
    }
}

/// xorshift64*: enough randomness for choosing victims, and repeatable from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The stand-in for an outside service that tasks act on: it counts, per task, how many of its
/// side effects are in flight at once. More than one means two runs of a task overlapped.
#[derive(Default)]
struct Effects {
    in_flight: HashMap<String, usize>,
    max_overlap: HashMap<String, usize>,
    runs: HashMap<(String, String), usize>,
}

type SharedEffects = Arc<Mutex<Effects>>;

/// Leaves the in-flight count when the effect ends, also when the connection drops first (the
/// server then drops the handler: the effect ended there, unfinished).
struct InFlight {
    effects: SharedEffects,
    task: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        *self.effects.lock().unwrap().in_flight.get_mut(&self.task).unwrap() -= 1;
    }
}

async fn effect(State(effects): State<SharedEffects>, Path((task, n)): Path<(String, String)>) -> String {
    let _in_flight = {
        let mut shared = effects.lock().unwrap();
        let now = {
            let count = shared.in_flight.entry(task.clone()).or_default();
            *count += 1;
            *count
        };
        let max = shared.max_overlap.entry(task.clone()).or_default();
        *max = (*max).max(now);
        *shared.runs.entry((task.clone(), n.clone())).or_default() += 1;
        InFlight { effects: effects.clone(), task: task.clone() }
    };
    tokio::time::sleep(EFFECT_TIME).await;
    format!("effect {n} of {task}\n")
}

async fn start_effects() -> (String, SharedEffects) {
    let effects = SharedEffects::default();
    let app = axum::Router::new().route("/effect/{task}/{n}", axum::routing::get(effect)).with_state(effects.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (host, effects)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    Quick,
    Slow,
    Failing,
    Effect,
}

impl Kind {
    fn template(self) -> &'static str {
        match self {
            Kind::Quick => "quick",
            Kind::Slow => "slow",
            Kind::Failing => "failing",
            Kind::Effect => "effect",
        }
    }

    fn steps(self) -> &'static [&'static str] {
        match self {
            Kind::Quick => &["one", "two", "three"],
            Kind::Slow => &["before", "wait", "after"],
            Kind::Failing => &["log", "escape", "never"],
            Kind::Effect => &["secret", "first", "pause", "second"],
        }
    }
}

fn failing_template() -> String {
    "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata: {name: failing, title: failing}\nspec:\n  type: service\n  owner: group:test\n  steps:\n    - {id: log, name: Log, action: 'debug:log', input: {message: 'about to fail ${{ secrets.token }}'}}\n    - {id: escape, name: Escape, action: 'fs:delete', input: {files: ['../../outside']}}\n    - {id: never, name: Never, action: 'debug:log', input: {message: never}}\n".to_owned()
}

fn effect_template(host: &str) -> String {
    format!(
        "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata: {{name: effect, title: effect}}\nspec:\n  type: service\n  owner: group:test\n  parameters:\n    - properties:\n        label: {{type: string}}\n  steps:\n    - {{id: secret, name: Secret, action: 'debug:log', input: {{message: 'token ${{{{ secrets.token }}}} and ${{{{ secrets.token | upper }}}}'}}}}\n    - {{id: first, name: First, action: 'fetch:plain:file', input: {{url: 'http://{host}/effect/${{{{ context.task.id }}}}/1', targetPath: one.txt}}}}\n    - {{id: pause, name: Pause, action: 'debug:wait', input: {{seconds: 0.3}}}}\n    - {{id: second, name: Second, action: 'fetch:plain:file', input: {{url: 'http://{host}/effect/${{{{ context.task.id }}}}/2', targetPath: two.txt}}}}\n  output:\n    text:\n      - {{title: used, content: 'secret ${{{{ secrets.token }}}}'}}\n"
    )
}

/// The running processes; killed ones leave their logs behind for the secret check.
struct Fleet {
    deployment: Deployment,
    workers: Vec<Scaffolder>,
    apis: Vec<Scaffolder>,
    api_urls: Arc<Mutex<Vec<String>>>,
    /// Workers paused with SIGSTOP, until their SIGCONT.
    paused: Arc<Mutex<Vec<Pid>>>,
    logs: Vec<String>,
    started: usize,
}

impl Fleet {
    async fn start_worker(&mut self) {
        self.started += 1;
        let worker = self.deployment.start(&format!("worker-{}", self.started), "worker", 4, STALE_SECONDS).await;
        self.workers.push(worker);
    }

    async fn start_api(&mut self) {
        self.started += 1;
        let api = self.deployment.start(&format!("api-{}", self.started), "api", 0, STALE_SECONDS).await;
        self.api_urls.lock().unwrap().push(api.api());
        self.apis.push(api);
    }

    /// A worker not paused right now.
    fn running_worker(&self, rng: &mut Rng) -> Option<usize> {
        let paused = self.paused.lock().unwrap().clone();
        let candidates: Vec<usize> =
            (0..self.workers.len()).filter(|&i| !paused.contains(&self.workers[i].pid())).collect();
        (!candidates.is_empty()).then(|| candidates[rng.below(candidates.len())])
    }
}

#[derive(Default, Debug)]
struct Blows {
    kill9_worker: usize,
    sigterm_worker: usize,
    sigstop_worker: usize,
    kill9_api: usize,
    postgres_restart: usize,
    cancel: usize,
}

#[derive(Clone, Copy, Debug)]
enum Blow {
    Kill9Worker,
    SigtermWorker,
    SigstopWorker,
    Kill9Api,
    RestartPostgres,
    Cancel,
}

/// Each kind of blow lands at least once, in this order, before the random ones.
const OPENING: [Blow; 6] =
    [Blow::SigstopWorker, Blow::Kill9Worker, Blow::RestartPostgres, Blow::Cancel, Blow::SigtermWorker, Blow::Kill9Api];

fn random_blow(rng: &mut Rng) -> Blow {
    match rng.below(20) {
        0..=5 => Blow::Kill9Worker,
        6..=8 => Blow::SigtermWorker,
        9..=11 => Blow::SigstopWorker,
        12..=14 => Blow::Kill9Api,
        15 => Blow::RestartPostgres,
        _ => Blow::Cancel,
    }
}

struct Submitted {
    accepted: Vec<(String, Kind)>,
    refused: BTreeMap<Kind, usize>,
}

/// Submits tasks at a steady rate through whichever API processes are alive, until `stop`.
async fn submit(rate: f64, seed: u64, api_urls: Arc<Mutex<Vec<String>>>, stop: Arc<AtomicBool>) -> Submitted {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let mut rng = Rng(seed);
    let mut posts = Vec::new();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        ticker.tick().await;
        n += 1;
        let kind = match rng.below(20) {
            0..=7 => Kind::Quick,
            8..=14 => Kind::Effect,
            15..=16 => Kind::Slow,
            _ => Kind::Failing,
        };
        let urls = api_urls.lock().unwrap().clone();
        if urls.is_empty() {
            continue;
        }
        let api = urls[rng.below(urls.len())].clone();
        let seconds = 1 + rng.below(3);
        let client = client.clone();
        posts.push(tokio::spawn(async move {
            let values = json!({"label": format!("task-{n}"), "seconds": seconds});
            let secrets = json!({"token": format!("{SECRET_MARK}{seed}-{n}")});
            (kind, post_with_secrets(&client, &api, kind.template(), values, Some(secrets)).await)
        }));
    }
    let mut submitted = Submitted { accepted: Vec::new(), refused: BTreeMap::new() };
    for post in posts {
        match post.await.unwrap() {
            (kind, Some(id)) => submitted.accepted.push((id, kind)),
            (kind, None) => *submitted.refused.entry(kind).or_default() += 1,
        }
    }
    submitted
}

/// Lands one blow; returns once the fleet is whole again (paused workers resume on their own).
async fn land(
    blow: Blow,
    fleet: &mut Fleet,
    cluster: &Arc<Cluster>,
    rng: &mut Rng,
    blows: &mut Blows,
    slow: &[String],
) {
    match blow {
        Blow::Kill9Worker => {
            let Some(i) = fleet.running_worker(rng) else { return };
            let worker = fleet.workers.swap_remove(i);
            fleet.logs.push(worker.log());
            worker.kill9().await;
            blows.kill9_worker += 1;
            fleet.start_worker().await;
        }
        Blow::SigtermWorker => {
            let Some(i) = fleet.running_worker(rng) else { return };
            let mut worker = fleet.workers.swap_remove(i);
            worker.signal(Signal::SIGTERM);
            let status = worker.wait_exit(Duration::from_secs(20)).await;
            assert!(status.success(), "{} exits cleanly on SIGTERM: {status:?}\n{}", worker.name, worker.log());
            fleet.logs.push(worker.log());
            blows.sigterm_worker += 1;
            fleet.start_worker().await;
        }
        Blow::SigstopWorker => {
            let Some(i) = fleet.running_worker(rng) else { return };
            let pid = fleet.workers[i].pid();
            kill(pid, Signal::SIGSTOP).unwrap();
            fleet.paused.lock().unwrap().push(pid);
            blows.sigstop_worker += 1;
            let paused = fleet.paused.clone();
            tokio::spawn(async move {
                // Past the stale timeout, so its tasks are taken from it before it wakes.
                tokio::time::sleep(Duration::from_secs(STALE_SECONDS * 2 + 1)).await;
                let _ = kill(pid, Signal::SIGCONT);
                paused.lock().unwrap().retain(|p| *p != pid);
            });
        }
        Blow::Kill9Api => {
            if fleet.apis.is_empty() {
                return;
            }
            let api = fleet.apis.swap_remove(rng.below(fleet.apis.len()));
            fleet.api_urls.lock().unwrap().retain(|url| *url != api.api());
            fleet.logs.push(api.log());
            api.kill9().await;
            blows.kill9_api += 1;
            fleet.start_api().await;
        }
        Blow::RestartPostgres => {
            let cluster = cluster.clone();
            tokio::task::spawn_blocking(move || cluster.restart()).await.unwrap();
            blows.postgres_restart += 1;
        }
        Blow::Cancel => {
            let (Some(api), false) = (fleet.api_urls.lock().unwrap().first().cloned(), slow.is_empty()) else { return };
            let id = &slow[rng.below(slow.len())];
            let _ = reqwest::Client::new().post(format!("{api}/tasks/{id}/cancel")).send().await;
            blows.cancel += 1;
        }
    }
}

/// What the storm left behind, counted.
#[derive(Default, Debug)]
struct Outcome {
    statuses: BTreeMap<String, usize>,
    recovered_events: usize,
    effect_runs: usize,
    effect_reruns: usize,
    max_overlap: usize,
    violations: Vec<String>,
}

async fn check_events(pool: &PgPool, kinds: &HashMap<String, Kind>, cancel_asked: &[String], outcome: &mut Outcome) {
    let tasks = sqlx::query("SELECT id::text AS id, status FROM scaffolder.tasks").fetch_all(pool).await.unwrap();
    let rows =
        sqlx::query("SELECT task_id::text AS task_id, id, event_type, body FROM scaffolder.task_events ORDER BY id")
            .fetch_all(pool)
            .await
            .unwrap();
    let mut events: HashMap<String, Vec<(String, Value)>> = HashMap::new();
    for row in rows {
        events
            .entry(row.get("task_id"))
            .or_default()
            .push((row.get("event_type"), serde_json::from_str(row.get::<&str, _>("body")).unwrap()));
    }
    for task in tasks {
        let id: String = task.get("id");
        let status: String = task.get("status");
        *outcome.statuses.entry(status.clone()).or_default() += 1;
        let mut problem = |what: String| outcome.violations.push(format!("task {id}: {what}"));
        let Some(kind) = kinds.get(&id).copied() else {
            // Accepted while its API died before answering: it must still have ended.
            if !matches!(status.as_str(), "completed" | "failed" | "cancelled") {
                problem(format!("an unanswered submission was left {status}"));
            }
            continue;
        };
        let expected: &[&str] = match kind {
            Kind::Failing => &["failed"],
            _ if cancel_asked.contains(&id) => &["cancelled", "completed"],
            _ => &["completed"],
        };
        if !expected.contains(&status.as_str()) {
            problem(format!("{kind:?} task ended {status}, expected {expected:?}"));
        }
        let events = events.remove(&id).unwrap_or_default();
        let completions = events.iter().filter(|(t, _)| t == "completion").count();
        if completions != 1 || events.last().map(|(t, _)| t.as_str()) != Some("completion") {
            problem(format!("{completions} completion events, last event {:?}", events.last().map(|(t, _)| t)));
        }
        outcome.recovered_events += events.iter().filter(|(t, _)| t == "recovered").count();
        // The last attempt's events: each step begins at most once, and nothing is interleaved
        // from an attempt that lost the task.
        let last_attempt = events.iter().rposition(|(t, _)| t == "recovered").map_or(0, |i| i + 1);
        let mut began: BTreeMap<String, usize> = BTreeMap::new();
        for (_, body) in &events[last_attempt..] {
            if body["status"] == "processing" {
                *began.entry(body["stepId"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
            }
        }
        if let Some((step, n)) = began.iter().find(|(_, n)| **n > 1) {
            problem(format!("step {step} began {n} times in the last attempt"));
        }
        if status == "completed" {
            for step in kind.steps() {
                let finished = events
                    .iter()
                    .any(|(_, b)| b["stepId"] == *step && matches!(b["status"].as_str(), Some("completed")));
                if !finished {
                    problem(format!("completed, but step {step} never reported completed"));
                }
            }
        }
        if kind == Kind::Failing
            && status == "failed"
            && !events.iter().any(|(_, b)| b["stepId"] == "escape" && b["status"] == "failed")
        {
            problem("failed, but not at the escaping step".to_owned());
        }
    }
}

/// Rows of every table that still hold a secret.
async fn secret_rows(pool: &PgPool) -> Vec<String> {
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'scaffolder'")
            .fetch_all(pool)
            .await
            .unwrap();
    let mut found = Vec::new();
    for table in tables {
        let sql = format!("SELECT count(*) FROM scaffolder.\"{table}\" t WHERE lower(t::text) LIKE '%{SECRET_MARK}%'");
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await.unwrap();
        if n > 0 {
            found.push(format!("{n} rows of {table}"));
        }
    }
    found
}

/// Runs one storm with `settings` and returns the report; panics listing every violation.
async fn storm(settings: Settings) -> Value {
    let started = Instant::now();
    eprintln!("crash storm: seed {} ({} s, {} tasks/s)", settings.seed, settings.seconds, settings.rate);
    let mut rng = Rng(settings.seed);
    let cluster = Arc::new(Cluster::start());
    let (effects_host, effects) = start_effects().await;
    let deployment = Deployment::with_templates(
        &cluster.url(),
        &[quick_template(), slow_template(), failing_template(), effect_template(&effects_host)],
        &format!("  reading:\n    allow: [{{host: '{effects_host}'}}]\n"),
    );
    let mut fleet = Fleet {
        deployment,
        workers: Vec::new(),
        apis: Vec::new(),
        api_urls: Arc::default(),
        paused: Arc::default(),
        logs: Vec::new(),
        started: 0,
    };
    for _ in 0..settings.apis {
        fleet.start_api().await;
    }
    for _ in 0..settings.workers {
        fleet.start_worker().await;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let submitter =
        tokio::spawn(submit(settings.rate, settings.seed ^ 0x9E37_79B9, fleet.api_urls.clone(), stop.clone()));
    let pool = PgPool::connect(&cluster.url()).await.unwrap();
    let mut blows = Blows::default();
    let mut cancel_asked = Vec::new();
    let storm_end = Instant::now() + Duration::from_secs(settings.seconds);
    let mut n = 0;
    while Instant::now() < storm_end {
        tokio::time::sleep(settings.blow_every).await;
        let blow = OPENING.get(n).copied().unwrap_or_else(|| random_blow(&mut rng));
        n += 1;
        // Slow tasks not yet ended are what a cancel aims at.
        let slow: Vec<String> = if matches!(blow, Blow::Cancel) {
            sqlx::query_scalar(
                "SELECT id::text FROM scaffolder.tasks WHERE template_ref = 'template:default/slow' AND status IN ('open', 'processing')",
            )
            .fetch_all(&pool)
            .await
            .unwrap_or_default()
        } else {
            Vec::new()
        };
        land(blow, &mut fleet, &cluster, &mut rng, &mut blows, &slow).await;
        if let (Blow::Cancel, false) = (blow, slow.is_empty()) {
            cancel_asked.extend(slow);
        }
    }
    stop.store(true, Ordering::SeqCst);
    let submitted = submitter.await.unwrap();
    eprintln!("crash storm: blows landed {blows:?}; draining");

    eventually(Duration::from_secs(60), "paused workers to resume", || async {
        fleet.paused.lock().unwrap().is_empty().then_some(())
    })
    .await;
    eventually(Duration::from_secs(240), "every task to end", || async {
        let open: i64 =
            sqlx::query_scalar("SELECT count(*) FROM scaffolder.tasks WHERE status IN ('open', 'processing')")
                .fetch_one(&pool)
                .await
                .ok()?;
        (open == 0).then_some(())
    })
    .await;

    let mut outcome = Outcome::default();
    let kinds: HashMap<String, Kind> = submitted.accepted.iter().cloned().collect();
    let known: i64 = sqlx::query_scalar("SELECT count(*) FROM scaffolder.tasks WHERE id = ANY($1::uuid[])")
        .bind(kinds.keys().cloned().collect::<Vec<_>>())
        .fetch_one(&pool)
        .await
        .unwrap();
    if known as usize != kinds.len() {
        outcome.violations.push(format!("{} accepted tasks are missing", kinds.len() - known as usize));
    }
    check_events(&pool, &kinds, &cancel_asked, &mut outcome).await;
    {
        let effects = effects.lock().unwrap();
        outcome.max_overlap = effects.max_overlap.values().copied().max().unwrap_or(0);
        for (task, overlap) in &effects.max_overlap {
            if *overlap > 1 {
                outcome.violations.push(format!("task {task}: {overlap} side effects in flight at once"));
            }
        }
        outcome.effect_runs = effects.runs.values().sum();
        outcome.effect_reruns = effects.runs.values().map(|n| n - 1).sum();
        for (id, kind) in &submitted.accepted {
            let completed = outcome.violations.iter().all(|v| !v.contains(id.as_str()));
            if *kind == Kind::Effect && completed && !cancel_asked.contains(id) {
                for n in ["1", "2"] {
                    if !effects.runs.contains_key(&(id.clone(), n.to_owned())) {
                        outcome.violations.push(format!("task {id}: completed without side effect {n}"));
                    }
                }
            }
        }
    }
    for found in secret_rows(&pool).await {
        outcome.violations.push(format!("a secret is left in {found}"));
    }
    for process in fleet.workers.iter().chain(&fleet.apis) {
        fleet.logs.push(process.log());
    }
    let leaking_logs = fleet.logs.iter().filter(|log| log.to_lowercase().contains(SECRET_MARK)).count();
    if leaking_logs > 0 {
        outcome.violations.push(format!("{leaking_logs} process logs contain a secret"));
    }
    let fenced = fleet.logs.iter().map(|log| log.matches("was taken away from this worker").count()).sum::<usize>();

    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for (_, kind) in &submitted.accepted {
        *by_kind.entry(format!("{kind:?}").to_lowercase()).or_default() += 1;
    }
    let report = json!({
        "seed": settings.seed,
        "storm_seconds": settings.seconds,
        "rate": settings.rate,
        "workers": settings.workers,
        "apis": settings.apis,
        "wall_seconds": started.elapsed().as_secs_f64().round(),
        "accepted": submitted.accepted.len(),
        "accepted_by_kind": by_kind,
        "refused_during_blows": submitted.refused.values().sum::<usize>(),
        "tasks_in_database": outcome.statuses.values().sum::<usize>(),
        "final_statuses": outcome.statuses,
        "blows": {
            "kill9_worker": blows.kill9_worker,
            "sigterm_worker": blows.sigterm_worker,
            "sigstop_worker": blows.sigstop_worker,
            "kill9_api": blows.kill9_api,
            "postgres_restart": blows.postgres_restart,
            "cancel": blows.cancel,
        },
        "recovered_events": outcome.recovered_events,
        "side_effects": outcome.effect_runs,
        "side_effects_repeated_after_a_crash": outcome.effect_reruns,
        "max_side_effects_of_one_task_at_once": outcome.max_overlap,
        "runs_stopped_after_their_task_was_taken": fenced,
        "rows_with_secrets": secret_rows(&pool).await.len(),
        "violations": outcome.violations,
    });
    eprintln!("crash storm report: {}", serde_json::to_string_pretty(&report).unwrap());
    if let Some(path) = &settings.report {
        std::fs::write(path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    }
    assert!(outcome.violations.is_empty(), "the storm broke guarantees: {:#?}", outcome.violations);
    drop(fleet);
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_crashes_loses_no_task_overlaps_no_side_effect_and_leaks_no_secret() {
    let report = storm(Settings::from_env()).await;
    // The reduced storm still lands every kind of blow and does work between them.
    for blow in ["kill9_worker", "sigterm_worker", "sigstop_worker", "kill9_api", "postgres_restart"] {
        assert!(report["blows"][blow].as_u64() >= Some(1), "{blow} landed: {report}");
    }
    assert!(report["accepted"].as_u64() >= Some(20), "{report}");
    assert!(report["side_effects"].as_u64() >= Some(2), "{report}");
}
