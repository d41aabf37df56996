//! Rows and values that cross the store's boundary.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::StoreError;

/// Backstage's `TaskStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    Open,
    Processing,
    Completed,
    Failed,
    Cancelled,
    Skipped,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 6] = [
        TaskStatus::Open,
        TaskStatus::Processing,
        TaskStatus::Completed,
        TaskStatus::Failed,
        TaskStatus::Cancelled,
        TaskStatus::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Open => "open",
            TaskStatus::Processing => "processing",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
            TaskStatus::Cancelled => "cancelled",
            TaskStatus::Skipped => "skipped",
        }
    }

    /// Terminal states are the only ones a task may be retried from.
    pub fn is_terminal(self) -> bool {
        matches!(self, TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Cancelled | TaskStatus::Skipped)
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TaskStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TaskStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown task status '{s}'"))
    }
}

pub(crate) fn parse_status(s: &str) -> Result<TaskStatus, StoreError> {
    s.parse().map_err(|message| StoreError::Corrupt { table: "tasks", message })
}

/// Backstage's `TaskEventType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Log,
    Completion,
    Cancelled,
    Recovered,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Log => "log",
            EventType::Completion => "completion",
            EventType::Cancelled => "cancelled",
            EventType::Recovered => "recovered",
        }
    }
}

/// A task as the API sees it: never its secrets.
#[derive(Clone, Debug)]
pub struct TaskRow {
    pub id: Uuid,
    pub spec: String,
    pub status: TaskStatus,
    /// ISO-8601, UTC, milliseconds (`2026-11-22T06:31:02.123Z`).
    pub created_at: String,
    pub last_heartbeat_at: Option<String>,
    pub created_by: Option<String>,
    pub template_ref: String,
    pub attempt: i32,
    pub claimed_by: Option<String>,
    pub cancel_requested: bool,
    pub completed_at: Option<String>,
}

/// Where a task stands: what [`crate::Store::task_standing`] reads besides the task itself.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskStanding {
    /// `open` tasks that will be claimed before it (claims go oldest first).
    pub open_ahead: i64,
    /// Seconds since its last heartbeat (a claimed task's lease renewal).
    pub heartbeat_age_seconds: Option<f64>,
    /// Tasks running now, and how many distinct workers run them.
    pub running: i64,
    pub claimers: i64,
}

/// One row of `task_events`.
#[derive(Clone, Debug)]
pub struct EventRow {
    pub id: i64,
    pub task_id: Uuid,
    pub event_type: String,
    /// JSON object text.
    pub body: String,
    pub created_at: String,
}

/// An event to append. `body` is JSON object text.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub event_type: EventType,
    pub body: String,
}

impl NewEvent {
    pub fn new(event_type: EventType, body: &serde_json::Value) -> Self {
        NewEvent { event_type, body: body.to_string() }
    }
}

/// The right to write to a task: its id and the attempt number stamped by the claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Lease {
    pub task_id: Uuid,
    pub attempt: i32,
}

/// A task a worker has just claimed.
#[derive(Clone, Debug)]
pub struct ClaimedTask {
    pub lease: Lease,
    pub spec: String,
    pub secrets: Option<String>,
    pub state: Option<String>,
    pub created_by: Option<String>,
    pub template_ref: String,
    pub cancel_requested: bool,
}

/// What the database said about one lease in a heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeartbeatReply {
    pub lease: Lease,
    /// False when the task was taken away (janitor, another worker): stop and write nothing more.
    pub alive: bool,
    pub cancel_requested: bool,
}

/// A fenced write on behalf of the worker holding `lease`.
#[derive(Clone, Debug)]
pub enum WriteOp {
    /// Append events.
    Events { lease: Lease, events: Vec<NewEvent> },
    /// Replace the task's saved state (completed steps, checkpoints).
    State { lease: Lease, state: String },
    /// Append the final events (the last of which is the completion) and end the task.
    Complete { lease: Lease, status: TaskStatus, events: Vec<NewEvent>, state: Option<String> },
    /// Hand the task back to the queue (graceful shutdown): append events, status `open`.
    Release { lease: Lease, events: Vec<NewEvent>, state: Option<String> },
}

impl WriteOp {
    pub fn lease(&self) -> Lease {
        match self {
            WriteOp::Events { lease, .. }
            | WriteOp::State { lease, .. }
            | WriteOp::Complete { lease, .. }
            | WriteOp::Release { lease, .. } => *lease,
        }
    }

    pub(crate) fn events(&self) -> &[NewEvent] {
        match self {
            WriteOp::Events { events, .. } | WriteOp::Complete { events, .. } | WriteOp::Release { events, .. } => {
                events
            }
            WriteOp::State { .. } => &[],
        }
    }
}

/// The result of one [`WriteOp`] in a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    Applied,
    /// The lease no longer matches (the task was recovered, timed out or cancelled elsewhere).
    LeaseLost,
}
