//! Where a run's events and saved state go. The worker's sink writes to the database through its
//! batching writer; dry-runs collect events in memory.

use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::Value;
use thiserror::Error;

use crate::runner::TaskState;

/// Backstage's event types a runner emits (`completion` is written by whoever ends the task).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskEventKind {
    Log,
    Cancelled,
    Recovered,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TaskEvent {
    pub kind: TaskEventKind,
    /// `{message, stepId?, status?, ...}`, secrets already redacted.
    pub body: Value,
}

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum SinkError {
    /// The task was taken away from this worker; stop and write nothing more.
    #[error("the task's lease was lost")]
    LeaseLost,
    #[error("could not save the task's state: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait EventSink: Send + Sync {
    /// Appends an event. Never blocks: the sink keeps order and persists in the background.
    fn emit(&self, event: TaskEvent);

    /// Saves the task's state durably (completed steps, checkpoints) before returning.
    async fn save_state(&self, state: &TaskState) -> Result<(), SinkError>;
}

/// Collects events in memory (dry-runs, tests).
#[derive(Debug, Default)]
pub struct MemorySink {
    events: Mutex<Vec<TaskEvent>>,
    states: Mutex<Vec<TaskState>>,
}

impl MemorySink {
    pub fn new() -> Self {
        MemorySink::default()
    }

    pub fn events(&self) -> Vec<TaskEvent> {
        self.events.lock().expect("sink lock").clone()
    }

    pub fn last_state(&self) -> Option<TaskState> {
        self.states.lock().expect("sink lock").last().cloned()
    }
}

#[async_trait]
impl EventSink for MemorySink {
    fn emit(&self, event: TaskEvent) {
        self.events.lock().expect("sink lock").push(event);
    }

    async fn save_state(&self, state: &TaskState) -> Result<(), SinkError> {
        self.states.lock().expect("sink lock").push(state.clone());
        Ok(())
    }
}
