//! Everything that runs a template: the [`Action`] trait, the [`Registry`] of built-in actions,
//! the sandboxed [`Workspace`], and the [`Runner`] that executes a task's steps and reports
//! through an [`EventSink`].
//!
//! Layout:
//! - `action`: the trait, its context and its error type.
//! - `registry`: the one place that lists the built-in actions.
//! - One file per action: `catalog_fetch`, `catalog_write`, `debug_log`, `debug_wait`,
//!   `fetch_plain`, `fetch_plain_file`, `fetch_template`, `fetch_template_file`, `fs_delete`,
//!   `fs_readdir`, `fs_rename`, `catalog_register`, `publish_github`, `github_repo_create`,
//!   `github_repo_push`, `publish_github_pull_request`; `github` (integrations, credentials,
//!   REST, git pushes, safe reruns); `fetch` (where files come from), `files` (trees, binary
//!   detection, the per-task budget), `yaml` (YAML as Backstage writes it), `catalog_api`.
//! - `workspace`: a task's directory, and the only way to turn a user path into a real one.
//! - `runner`: step by step execution with Backstage's events; `plan`: which step waits for
//!   which (spec order, or a graph); `redact`: secret masking.
//! - `sink`: where events go (the worker's database writer, or memory for dry-runs).
//! - `stop`: why a run must stop (cancel, shutdown, lost lease, timeout).
//!
//! The worker, the API's dry-run and the CLI's dry-run all run this same runner; only the sink
//! differs. Invariant: an action never sees an absolute path it was not given by the workspace.

mod action;
mod catalog_api;
mod catalog_fetch;
mod catalog_register;
mod catalog_write;
mod debug_log;
mod debug_wait;
mod dry_run;
mod fetch;
mod fetch_plain;
mod fetch_plain_file;
mod fetch_template;
mod fetch_template_file;
mod files;
mod fs_delete;
mod fs_readdir;
mod fs_rename;
pub mod github;
mod github_repo_create;
mod github_repo_push;
mod plan;
mod publish_github;
mod publish_github_pull_request;
mod redact;
mod registry;
mod runner;
mod schema;
mod sink;
mod stop;
mod url_reader;
mod workspace;
mod yaml;

pub use action::{Action, ActionContext, ActionExample, StepError, WorkspaceAccess};
pub use catalog_api::{CatalogApi, EmptyCatalog};
pub use dry_run::{
    DryRunFile, DryRunLeftovers, DryRunObserver, DryRunRequest, DryRunResult, DryRunSource, dry_run,
    dry_run_keeping_directories, serialize_directory,
};
pub use fetch::{FetchConfig, ReadingAllow};
pub use files::{Budget, WorkspaceLimits};
pub use github::repo::GitDefaults;
pub use github::{Github, GithubApp, GithubIntegration, GithubUrl, RetryPolicy, Secret};
pub use registry::{ActionDescription, Registry, RegistryConfig};
pub use runner::{Environment, RunOutcome, Runner, RunnerConfig, Secrets, TaskRun, TaskState};
pub use sink::{EventSink, MemorySink, SinkError, TaskEvent, TaskEventKind};
pub use stop::{LeaseClock, StopReason, StopSignal};
pub use url_reader::UrlReader;
pub use workspace::{PathError, Workspace, prepare_working_directory, resolve_safe_child_path};
