//! The runner's event sink for one task: events go to the writer (never blocking the run), state
//! saves wait for their commit.

use std::sync::atomic::{AtomicUsize, Ordering};

use actions::{EventSink, SinkError, TaskEvent, TaskEventKind, TaskState};
use async_trait::async_trait;
use serde_json::json;
use store::{EventType, Lease, NewEvent, WriteOp, WriteOutcome};

use crate::writer::Writer;

/// A run that logs more than this is cut off (one notice, then silence) rather than filling the
/// database.
const MAX_EVENTS_PER_RUN: usize = 100_000;

pub(crate) struct DbSink {
    writer: Writer,
    lease: Lease,
    emitted: AtomicUsize,
}

impl DbSink {
    pub fn new(writer: Writer, lease: Lease) -> Self {
        DbSink { writer, lease, emitted: AtomicUsize::new(0) }
    }
}

fn to_new_event(event: &TaskEvent) -> NewEvent {
    let event_type = match event.kind {
        TaskEventKind::Log => EventType::Log,
        TaskEventKind::Cancelled => EventType::Cancelled,
        TaskEventKind::Recovered => EventType::Recovered,
    };
    NewEvent::new(event_type, &event.body)
}

#[async_trait]
impl EventSink for DbSink {
    fn emit(&self, event: TaskEvent) {
        let count = self.emitted.fetch_add(1, Ordering::Relaxed);
        let event = match count {
            n if n < MAX_EVENTS_PER_RUN => event,
            n if n == MAX_EVENTS_PER_RUN => TaskEvent {
                kind: TaskEventKind::Log,
                body: json!({"message": format!("This run logged more than {MAX_EVENTS_PER_RUN} lines; further log lines are dropped")}),
            },
            _ => return,
        };
        self.writer.send(WriteOp::Events { lease: self.lease, events: vec![to_new_event(&event)] });
    }

    async fn save_state(&self, state: &TaskState) -> Result<(), SinkError> {
        match self.writer.write(WriteOp::State { lease: self.lease, state: state.to_json() }).await {
            WriteOutcome::Applied => Ok(()),
            WriteOutcome::LeaseLost => Err(SinkError::LeaseLost),
        }
    }
}
