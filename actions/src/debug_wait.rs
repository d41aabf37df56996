//! `debug:wait`: waits for a while, returning early when the run must stop.

use std::time::Duration;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::action::{Action, ActionContext, ActionExample, StepError, WorkspaceAccess};
use crate::schema::schema_of;

/// Backstage's default ceiling.
const MAX_WAIT: Duration = Duration::from_secs(10 * 60);

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// Waiting period in minutes.
    minutes: Option<f64>,
    /// Waiting period in seconds.
    seconds: Option<f64>,
    /// Waiting period in milliseconds.
    milliseconds: Option<f64>,
}

pub(crate) struct DebugWait;

#[async_trait]
impl Action for DebugWait {
    fn id(&self) -> &'static str {
        "debug:wait"
    }

    fn description(&self) -> &'static str {
        "Waits for a certain period of time."
    }

    fn examples(&self) -> Vec<ActionExample> {
        vec![
            ActionExample {
                description: "Waiting for 50 milliseconds",
                example: "steps:\n  - action: debug:wait\n    id: wait-milliseconds\n    name: Waiting for 50 milliseconds\n    input:\n      milliseconds: 50\n",
            },
            ActionExample {
                description: "Waiting for 5 seconds",
                example: "steps:\n  - action: debug:wait\n    id: wait-5sec\n    name: Waiting for 5 seconds\n    input:\n      seconds: 5\n",
            },
            ActionExample {
                description: "Waiting for 1 minutes",
                example: "steps:\n  - action: debug:wait\n    id: wait-1min\n    name: Waiting for 1 minutes\n    input:\n      minutes: 1\n",
            },
        ]
    }

    fn input_schema(&self) -> Value {
        schema_of::<Input>()
    }

    fn workspace_access(&self) -> WorkspaceAccess {
        WorkspaceAccess::None
    }

    async fn run(&self, ctx: &mut ActionContext<'_>) -> Result<(), StepError> {
        let input: Input = ctx.input_as()?;
        // Backstage waits not at all for a negative period; a negative period is a template bug.
        for (name, value) in
            [("minutes", input.minutes), ("seconds", input.seconds), ("milliseconds", input.milliseconds)]
        {
            if let Some(value) = value.filter(|v| *v < 0.0) {
                return Err(StepError::input(format!("Waiting period must not be negative, got {name}: {value}")));
            }
        }
        let millis = input.minutes.unwrap_or(0.0) * 60_000.0
            + input.seconds.unwrap_or(0.0) * 1000.0
            + input.milliseconds.unwrap_or(0.0);
        if !millis.is_finite() || millis > MAX_WAIT.as_millis() as f64 {
            return Err(StepError::error(
                "Waiting duration is longer than the maximum threshold of 0 hours, 10 minutes, 0 seconds, 0 milliseconds",
            ));
        }
        let delay = Duration::from_secs_f64(millis.max(0.0) / 1000.0);
        // Like Backstage, an interrupted wait simply ends; the runner then sees why.
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = ctx.stop.stopped() => {}
        }
        Ok(())
    }
}
