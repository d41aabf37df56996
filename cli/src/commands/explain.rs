//! `scaffolder explain TASK_ID`: why a task is (not) running, in words, from the database.

use serde_json::Value;
use store::TaskStatus;
use uuid::Uuid;

use crate::config::Settings;
use crate::wiring;

pub async fn run(settings: Settings, task: &str) -> anyhow::Result<()> {
    let id: Uuid = task.parse().map_err(|_| anyhow::anyhow!("'{task}' is not a task id (a UUID)"))?;
    let store = wiring::open_store(&settings).await?;
    let lines = explain(&store, &settings, id).await;
    store.close().await;
    for line in lines? {
        println!("{line}");
    }
    Ok(())
}

async fn explain(store: &store::Store, settings: &Settings, id: Uuid) -> anyhow::Result<Vec<String>> {
    let (Some(task), Some(standing)) = (store.task_get(id).await?, store.task_standing(id).await?) else {
        anyhow::bail!("task {id} does not exist (or was pruned after scaffolder.taskRetention)");
    };
    let events = store.event_list(id, None).await?;
    let body = |event: &store::EventRow| serde_json::from_str::<Value>(&event.body).unwrap_or(Value::Null);
    let last_recovered = events.iter().rev().find(|e| e.event_type == "recovered").map(body);
    let current_step = events
        .iter()
        .rev()
        .map(body)
        .find(|b| b["status"] == "processing" && b["stepId"].is_string())
        .and_then(|b| b["stepId"].as_str().map(str::to_owned));
    let stale = settings.stale_timeout.as_secs_f64();
    let mut lines = vec![format!(
        "task {id} ({}), created {} by {}: {}",
        task.template_ref,
        task.created_at,
        task.created_by.as_deref().unwrap_or("an anonymous caller"),
        task.status.as_str()
    )];
    match task.status {
        TaskStatus::Open => {
            lines.push(match standing.open_ahead {
                0 => "it is next in line: the next worker with a free slot claims it".to_owned(),
                n => format!("{n} open task(s) were created before it; workers claim the oldest first"),
            });
            lines.push(match standing.claimers {
                0 => "no worker is running any task right now: if this lasts, check that workers are up \
                      (`/healthcheck` of each), that their concurrentTasksLimit is above 0, and that they \
                      use this database"
                    .to_owned(),
                n => format!("{n} worker(s) are running {} task(s) now", standing.running),
            });
            if task.attempt > 0 {
                lines.push(format!("it has been claimed {} time(s) before and handed back", task.attempt));
                if let Some(recovered) = last_recovered {
                    lines.push(format!("last hand-back: {}", recovered["message"].as_str().unwrap_or("(no message)")));
                }
                if settings.max_attempts > 0 {
                    lines.push(format!(
                        "after {} attempt(s) a task whose worker is lost fails instead (scaffolder.taskRecovery.maxAttempts)",
                        settings.max_attempts
                    ));
                }
            }
            if task.cancel_requested {
                lines.push("a cancel was requested: it ends cancelled instead of running".to_owned());
            }
        }
        TaskStatus::Processing => {
            lines.push(format!(
                "claimed by {} (attempt {}){}",
                task.claimed_by.as_deref().unwrap_or("an unknown worker"),
                task.attempt,
                current_step.map(|step| format!(", running step '{step}'")).unwrap_or_default()
            ));
            match standing.heartbeat_age_seconds {
                Some(age) if age > stale => lines.push(format!(
                    "its last heartbeat was {age:.0} s ago, past staleTimeout ({stale:.0} s): that worker is gone; \
                     the janitor re-opens the task at its next sweep (`scaffolder janitor --once` does it now)"
                )),
                Some(age) => lines.push(format!(
                    "its worker is alive (last heartbeat {age:.1} s ago, staleTimeout {stale:.0} s): a step is still running"
                )),
                None => lines.push("it has no heartbeat yet".to_owned()),
            }
            if task.cancel_requested {
                lines.push("a cancel was requested: it stops at the next step boundary or inside a wait".to_owned());
            }
        }
        ended => {
            lines.push(format!(
                "it ended {} at {}; `POST /api/scaffolder/v2/tasks/{id}/retry` runs it again after its completed steps",
                ended.as_str(),
                task.completed_at.as_deref().unwrap_or("an unknown time")
            ));
            if let Some(completion) = events.iter().rev().find(|e| e.event_type == "completion").map(body)
                && let Some(error) = completion["error"]["message"].as_str()
            {
                lines.push(format!("error: {error}"));
            }
        }
    }
    Ok(lines)
}
