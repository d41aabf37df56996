//! Real `scaffolder` processes: started with a config file, found through the address they print,
//! stopped with real signals.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_scaffolder-under-test"))
}

pub struct Scaffolder {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub name: String,
    log: Arc<Mutex<String>>,
}

impl Scaffolder {
    /// Starts `scaffolder <command> --config <config>` in `cwd` and waits until it listens.
    pub async fn start(name: &str, command: &str, config: &Path, cwd: &Path) -> Scaffolder {
        Self::start_with(name, &[command], Some(config), cwd, &[]).await
    }

    /// Starts the binary with `args`, with `--config` only when `config` is given.
    pub async fn start_with(
        name: &str,
        args: &[&str],
        config: Option<&Path>,
        cwd: &Path,
        env: &[(&str, &str)],
    ) -> Scaffolder {
        let mut command = Command::new(binary());
        command.args(args);
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        command
            .current_dir(cwd)
            .env("RUST_LOG", "info,sqlx=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start scaffolder");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        tokio::spawn({
            let log = log.clone();
            async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
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
        .flatten();
        let Some(url) = url else {
            let _ = child.kill().await;
            panic!("{name} did not start listening:\n{}", log.lock().unwrap());
        };
        // Keep draining stdout so the process never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Scaffolder { child, url, name: name.to_owned(), log }
    }

    pub fn api(&self) -> String {
        format!("{}/api/scaffolder/v2", self.url)
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id().expect("running") as i32)
    }

    pub fn signal(&self, signal: Signal) {
        kill(self.pid(), signal).expect("signal the process");
    }

    /// `kill -9`: no chance to clean up.
    pub async fn kill9(mut self) {
        self.signal(Signal::SIGKILL);
        let _ = self.child.wait().await;
    }

    /// Waits for the process to exit, failing after `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => status.expect("wait"),
            Err(_) => panic!("{} did not exit within {limit:?}:\n{}", self.name, self.log()),
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

/// Runs the binary to completion (for commands that exit), returning status, stdout and stderr.
pub async fn run_to_end(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> (std::process::ExitStatus, String, String) {
    let mut command = Command::new(binary());
    command.args(args).current_dir(cwd).stdin(Stdio::null()).kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("command finished in time")
        .expect("run");
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
