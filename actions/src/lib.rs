//! Everything that runs a template: the [`Action`] trait, the [`Registry`] of built-in actions,
//! the sandboxed [`Workspace`], and the [`Runner`] that executes a task's steps and reports
//! through an [`EventSink`].
//!
//! Layout:
//! - `action`: the trait, its context and its error type.
//! - `registry`: the one place that lists the built-in actions.
//! - One file per action: `debug_log`, `debug_wait`.
//! - `workspace`: a task's directory, and the only way to turn a user path into a real one.
//! - `runner`: step by step execution with Backstage's events; `redact`: secret masking.
//! - `sink`: where events go (the worker's database writer, or memory for dry-runs).
//! - `stop`: why a run must stop (cancel, shutdown, lost lease, timeout).
//!
//! The worker, the API's dry-run and the CLI's dry-run all run this same runner; only the sink
//! differs. Invariant: an action never sees an absolute path it was not given by the workspace.

mod action;
mod debug_log;
mod debug_wait;
mod redact;
mod registry;
mod runner;
mod schema;
mod sink;
mod stop;
mod workspace;

pub use action::{Action, ActionContext, ActionExample, StepError};
pub use registry::{ActionDescription, Registry, RegistryConfig};
pub use runner::{Environment, RunOutcome, Runner, RunnerConfig, Secrets, TaskRun, TaskState};
pub use sink::{EventSink, MemorySink, SinkError, TaskEvent, TaskEventKind};
pub use stop::{LeaseClock, StopReason, StopSignal};
pub use workspace::{PathError, Workspace};
