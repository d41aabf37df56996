//! Helpers shared by the suite: fresh databases, real processes, a private PostgreSQL cluster,
//! and waiting with deadlines (never sleeping and hoping).

pub mod cluster;
pub mod db;
pub mod deployment;
pub mod git_server;
pub mod process;

use std::future::Future;
use std::time::Duration;

/// Polls `check` until it yields `Some`, failing the test with `what` after `deadline`.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(start.elapsed() < deadline, "timed out after {deadline:?} waiting for {what}");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// A template file for tests, in Backstage's format.
pub fn template(name: &str, steps: &str) -> String {
    format!(
        "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata:\n  name: {name}\n  title: {name}\nspec:\n  type: service\n  owner: group:test\n  parameters:\n    - properties:\n        seconds: {{type: number}}\n        label: {{type: string}}\n  steps:\n{steps}\n  output:\n    text:\n      - title: done\n        content: finished ${{{{ parameters.label }}}}\n"
    )
}

/// Three quick logging steps.
pub fn quick_template() -> String {
    template(
        "quick",
        "    - {id: one, name: One, action: 'debug:log', input: {message: 'one ${{ parameters.label }}'}}\n    - {id: two, name: Two, action: 'debug:log', input: {message: two}}\n    - {id: three, name: Three, action: 'debug:log', input: {message: three}}",
    )
}

/// Logs, waits `parameters.seconds`, logs.
pub fn slow_template() -> String {
    template(
        "slow",
        "    - {id: before, name: Before, action: 'debug:log', input: {message: before}}\n    - {id: wait, name: Wait, action: 'debug:wait', input: {seconds: '${{ parameters.seconds }}'}}\n    - {id: after, name: After, action: 'debug:log', input: {message: after}}",
    )
}
