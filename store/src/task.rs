//! What the API does to tasks: insert, read, list, cancel and retry.
//!
//! Cancel and retry take the task's row lock (PostgreSQL `FOR UPDATE`; SQLite has one writer), so
//! they never interleave with a worker's fenced writes to the same task.

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Postgres, QueryBuilder, Row, Sqlite};
use uuid::Uuid;

use crate::enqueue::DepthCheck;
use crate::signals::{CHANNEL_CANCELS, CHANNEL_TASKS};
use crate::types::parse_status;
use crate::{Db, NewEvent, Result, Store, StoreError, TaskRow, TaskStanding, TaskStatus};

/// Columns of a [`TaskRow`], timestamps formatted as Backstage prints them.
macro_rules! pg_task_columns {
    () => {
        "id, spec, status, \
         to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS created_at, \
         to_char(last_heartbeat_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS last_heartbeat_at, \
         created_by, template_ref, attempt, claimed_by, cancel_requested_at IS NOT NULL AS cancel_requested, \
         to_char(completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS completed_at"
    };
}
macro_rules! sqlite_task_columns {
    () => {
        "id, spec, status, created_at, last_heartbeat_at, created_by, template_ref, attempt, claimed_by, \
         cancel_requested_at IS NOT NULL AS cancel_requested, completed_at"
    };
}

/// A task to enqueue.
#[derive(Clone, Debug)]
pub struct NewTask {
    pub id: Uuid,
    /// TaskSpec JSON text.
    pub spec: String,
    /// JSON object text of secret values, if any.
    pub secrets: Option<String>,
    pub created_by: Option<String>,
    pub template_ref: String,
}

/// The order fields a caller may sort by: an allow-list, never a column name from the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderField {
    CreatedAt,
    Status,
    CreatedBy,
}

impl OrderField {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "created_at" => Some(OrderField::CreatedAt),
            "status" => Some(OrderField::Status),
            "created_by" => Some(OrderField::CreatedBy),
            _ => None,
        }
    }

    fn column(self) -> &'static str {
        match self {
            OrderField::CreatedAt => "created_at",
            OrderField::Status => "status",
            OrderField::CreatedBy => "created_by",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskOrder {
    pub field: OrderField,
    pub descending: bool,
}

#[derive(Clone, Debug, Default)]
pub struct TaskListQuery {
    /// Any of these creators (empty: no filter).
    pub created_by: Vec<String>,
    /// Any of these statuses (empty: no filter).
    pub status: Vec<TaskStatus>,
    /// Sort keys in order; empty means `created_at desc`, as in Backstage.
    pub order: Vec<TaskOrder>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    NotFound,
    /// The task had not started: it is now `cancelled` (with the caller's events appended).
    CancelledBeforeStart,
    /// The task is running: its worker was asked to stop.
    Requested,
    /// The task had already ended; nothing changed.
    AlreadyFinished(TaskStatus),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryOutcome {
    NotFound,
    /// Only terminal tasks may be retried.
    NotTerminal(TaskStatus),
    Reopened,
}

/// Outcome of [`Store::task_insert`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertOutcome {
    Inserted,
    /// `open` tasks already number `max_open` or more: nothing was inserted.
    QueueFull,
}

impl Store {
    /// Enqueues a task (status `open`) unless `max_open` tasks are already waiting, and wakes
    /// workers here and, through `NOTIFY`, on other hosts. The limit is counted in the insert
    /// whenever the queue may be near it (see [`crate::enqueue`]).
    pub async fn task_insert(&self, task: &NewTask, max_open: i64) -> Result<InsertOutcome> {
        let check = self.depth.check(max_open);
        if check == DepthCheck::CountAndRefresh {
            let open: i64 = match &self.db {
                Db::Pg(pool) => {
                    sqlx::query_scalar("SELECT count(*) FROM tasks WHERE status = 'open'").fetch_one(pool).await?
                }
                Db::Sqlite { read, .. } => {
                    sqlx::query_scalar("SELECT count(*) FROM tasks WHERE status = 'open'").fetch_one(read).await?
                }
            };
            self.depth.counted(open);
        }
        let counted = check != DepthCheck::Skip;
        let inserted = match &self.db {
            Db::Pg(pool) => {
                sqlx::query(if counted {
                    "INSERT INTO tasks (id, spec, status, secrets, created_by, template_ref)
                 SELECT $1, $2, 'open', $3, $4, $5 WHERE (SELECT count(*) FROM tasks WHERE status = 'open') < $6"
                } else {
                    "INSERT INTO tasks (id, spec, status, secrets, created_by, template_ref)
                 SELECT $1, $2, 'open', $3, $4, $5 WHERE $6 > 0"
                })
                .bind(task.id)
                .bind(&task.spec)
                .bind(&task.secrets)
                .bind(&task.created_by)
                .bind(&task.template_ref)
                .bind(max_open)
                .execute(pool)
                .await?
                .rows_affected()
                    == 1
            }
            Db::Sqlite { write, .. } => {
                sqlx::query(if counted {
                    "INSERT INTO tasks (id, spec, status, secrets, created_by, template_ref)
                     SELECT ?1, ?2, 'open', ?3, ?4, ?5 WHERE (SELECT count(*) FROM tasks WHERE status = 'open') < ?6"
                } else {
                    "INSERT INTO tasks (id, spec, status, secrets, created_by, template_ref)
                     SELECT ?1, ?2, 'open', ?3, ?4, ?5 WHERE ?6 > 0"
                })
                .bind(task.id.to_string())
                .bind(&task.spec)
                .bind(&task.secrets)
                .bind(&task.created_by)
                .bind(&task.template_ref)
                .bind(max_open)
                .execute(write)
                .await?
                .rows_affected()
                    == 1
            }
        };
        if !inserted {
            return Ok(InsertOutcome::QueueFull);
        }
        self.depth.inserted();
        if let Db::Pg(pool) = &self.db {
            self.announcer.task_available(pool);
        }
        self.signals.notify_task_available();
        Ok(InsertOutcome::Inserted)
    }

    pub async fn task_get(&self, id: Uuid) -> Result<Option<TaskRow>> {
        match &self.db {
            Db::Pg(pool) => sqlx::query(concat!("SELECT ", pg_task_columns!(), " FROM tasks WHERE id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await?
                .map(|row| pg_task_row(&row))
                .transpose(),
            Db::Sqlite { read, .. } => {
                sqlx::query(concat!("SELECT ", sqlite_task_columns!(), " FROM tasks WHERE id = ?1"))
                    .bind(id.to_string())
                    .fetch_optional(read)
                    .await?
                    .map(|row| sqlite_task_row(&row))
                    .transpose()
            }
        }
    }

    /// A page of tasks and the number of tasks matching the filters.
    pub async fn task_list(&self, query: &TaskListQuery) -> Result<(Vec<TaskRow>, i64)> {
        match &self.db {
            Db::Pg(pool) => {
                let mut select = QueryBuilder::<Postgres>::new(concat!("SELECT ", pg_task_columns!(), " FROM tasks"));
                pg_filters(&mut select, query);
                push_order_and_page(&mut select, query);
                let rows = select.build().fetch_all(pool).await?;
                let mut count = QueryBuilder::<Postgres>::new("SELECT count(*) FROM tasks");
                pg_filters(&mut count, query);
                let total: i64 = count.build().fetch_one(pool).await?.try_get(0)?;
                Ok((rows.iter().map(pg_task_row).collect::<Result<_>>()?, total))
            }
            Db::Sqlite { read, .. } => {
                let mut select = QueryBuilder::<Sqlite>::new(concat!("SELECT ", sqlite_task_columns!(), " FROM tasks"));
                sqlite_filters(&mut select, query);
                push_order_and_page(&mut select, query);
                let rows = select.build().fetch_all(read).await?;
                let mut count = QueryBuilder::<Sqlite>::new("SELECT count(*) FROM tasks");
                sqlite_filters(&mut count, query);
                let total: i64 = count.build().fetch_one(read).await?.try_get(0)?;
                Ok((rows.iter().map(sqlite_task_row).collect::<Result<_>>()?, total))
            }
        }
    }

    /// Cancels a task. An `open` task ends at once as `cancelled` with `events_if_open` appended
    /// (secrets dropped); a `processing` one is flagged and its worker told; a finished one is
    /// left exactly as it is.
    pub async fn task_cancel(&self, id: Uuid, events_if_open: &[NewEvent]) -> Result<CancelOutcome> {
        let outcome = match &self.db {
            Db::Pg(pool) => {
                let mut tx = pool.begin().await?;
                let status: Option<String> = sqlx::query_scalar("SELECT status FROM tasks WHERE id = $1 FOR UPDATE")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(status) = status else {
                    tx.rollback().await?;
                    return Ok(CancelOutcome::NotFound);
                };
                let outcome = match parse_status(&status)? {
                    TaskStatus::Open => {
                        sqlx::query(
                            "UPDATE tasks SET status = 'cancelled', secrets = NULL, completed_at = now(),
                             cancel_requested_at = now() WHERE id = $1",
                        )
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                        pg_insert_events(&mut tx, id, events_if_open).await?;
                        CancelOutcome::CancelledBeforeStart
                    }
                    TaskStatus::Processing => {
                        sqlx::query(
                            "UPDATE tasks SET cancel_requested_at = coalesce(cancel_requested_at, now()) WHERE id = $1",
                        )
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                        sqlx::query("SELECT pg_notify($1, $2)")
                            .bind(CHANNEL_CANCELS)
                            .bind(id.to_string())
                            .execute(&mut *tx)
                            .await?;
                        CancelOutcome::Requested
                    }
                    finished => CancelOutcome::AlreadyFinished(finished),
                };
                tx.commit().await?;
                outcome
            }
            Db::Sqlite { write, .. } => {
                let mut tx = write.begin().await?;
                let status: Option<String> = sqlx::query_scalar("SELECT status FROM tasks WHERE id = ?1")
                    .bind(id.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(status) = status else {
                    tx.rollback().await?;
                    return Ok(CancelOutcome::NotFound);
                };
                let outcome = match parse_status(&status)? {
                    TaskStatus::Open => {
                        sqlx::query(
                            "UPDATE tasks SET status = 'cancelled', secrets = NULL,
                             completed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
                             cancel_requested_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?1",
                        )
                        .bind(id.to_string())
                        .execute(&mut *tx)
                        .await?;
                        sqlite_insert_events(&mut tx, id, events_if_open).await?;
                        CancelOutcome::CancelledBeforeStart
                    }
                    TaskStatus::Processing => {
                        sqlx::query(
                            "UPDATE tasks SET cancel_requested_at =
                             coalesce(cancel_requested_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) WHERE id = ?1",
                        )
                        .bind(id.to_string())
                        .execute(&mut *tx)
                        .await?;
                        CancelOutcome::Requested
                    }
                    finished => CancelOutcome::AlreadyFinished(finished),
                };
                tx.commit().await?;
                outcome
            }
        };
        match outcome {
            CancelOutcome::Requested => self.signals.notify_cancel(id),
            CancelOutcome::CancelledBeforeStart => self.signals.notify_events([id]),
            _ => {}
        }
        Ok(outcome)
    }

    /// Re-opens a finished task, as Backstage does: its `cancelled` and `completion` events are
    /// deleted, `recovered_event` appended, and `secrets` replace the old ones. Saved step state is
    /// kept, so the new run continues after the steps that already completed.
    pub async fn task_retry(
        &self,
        id: Uuid,
        secrets: Option<&str>,
        recovered_event: &NewEvent,
    ) -> Result<RetryOutcome> {
        let outcome = match &self.db {
            Db::Pg(pool) => {
                let mut tx = pool.begin().await?;
                let status: Option<String> = sqlx::query_scalar("SELECT status FROM tasks WHERE id = $1 FOR UPDATE")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(status) = status else {
                    tx.rollback().await?;
                    return Ok(RetryOutcome::NotFound);
                };
                let status = parse_status(&status)?;
                if !status.is_terminal() {
                    tx.rollback().await?;
                    return Ok(RetryOutcome::NotTerminal(status));
                }
                sqlx::query(
                    "UPDATE tasks SET status = 'open', last_heartbeat_at = now(), secrets = $2,
                     cancel_requested_at = NULL, completed_at = NULL, claimed_by = NULL, claimed_at = NULL
                     WHERE id = $1",
                )
                .bind(id)
                .bind(secrets)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM task_events WHERE task_id = $1 AND event_type IN ('cancelled', 'completion')")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                pg_insert_events(&mut tx, id, std::slice::from_ref(recovered_event)).await?;
                sqlx::query("SELECT pg_notify($1, '')").bind(CHANNEL_TASKS).execute(&mut *tx).await?;
                tx.commit().await?;
                RetryOutcome::Reopened
            }
            Db::Sqlite { write, .. } => {
                let mut tx = write.begin().await?;
                let status: Option<String> = sqlx::query_scalar("SELECT status FROM tasks WHERE id = ?1")
                    .bind(id.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(status) = status else {
                    tx.rollback().await?;
                    return Ok(RetryOutcome::NotFound);
                };
                let status = parse_status(&status)?;
                if !status.is_terminal() {
                    tx.rollback().await?;
                    return Ok(RetryOutcome::NotTerminal(status));
                }
                sqlx::query(
                    "UPDATE tasks SET status = 'open', last_heartbeat_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
                     secrets = ?2, cancel_requested_at = NULL, completed_at = NULL, claimed_by = NULL,
                     claimed_at = NULL WHERE id = ?1",
                )
                .bind(id.to_string())
                .bind(secrets)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM task_events WHERE task_id = ?1 AND event_type IN ('cancelled', 'completion')")
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?;
                sqlite_insert_events(&mut tx, id, std::slice::from_ref(recovered_event)).await?;
                tx.commit().await?;
                RetryOutcome::Reopened
            }
        };
        self.signals.notify_task_available();
        self.signals.notify_events([id]);
        Ok(outcome)
    }

    /// Counts tasks by status (for metrics and the queue-depth gauge).
    /// Where a task stands in the queue, for `scaffolder explain`: `None` when it does not exist.
    pub async fn task_standing(&self, id: Uuid) -> Result<Option<TaskStanding>> {
        let row: Option<(i64, Option<f64>, i64, i64)> = match &self.db {
            Db::Pg(pool) => {
                sqlx::query_as(
                    "SELECT
                        (SELECT count(*) FROM tasks o WHERE o.status = 'open' AND (o.created_at, o.id) < (t.created_at, t.id)),
                        EXTRACT(EPOCH FROM now() - t.last_heartbeat_at)::float8,
                        (SELECT count(*) FROM tasks p WHERE p.status = 'processing'),
                        (SELECT count(DISTINCT p.claimed_by) FROM tasks p WHERE p.status = 'processing')
                     FROM tasks t WHERE t.id = $1",
                )
                .bind(id)
                .fetch_optional(pool)
                .await?
            }
            Db::Sqlite { read, .. } => {
                sqlx::query_as(
                    "SELECT
                        (SELECT count(*) FROM tasks o WHERE o.status = 'open' AND (o.created_at, o.id) < (t.created_at, t.id)),
                        (julianday('now') - julianday(t.last_heartbeat_at)) * 86400.0,
                        (SELECT count(*) FROM tasks p WHERE p.status = 'processing'),
                        (SELECT count(DISTINCT p.claimed_by) FROM tasks p WHERE p.status = 'processing')
                     FROM tasks t WHERE t.id = ?1",
                )
                .bind(id.to_string())
                .fetch_optional(read)
                .await?
            }
        };
        Ok(row.map(|(open_ahead, heartbeat_age, running, claimers)| TaskStanding {
            open_ahead,
            heartbeat_age_seconds: heartbeat_age.map(|age| age.max(0.0)),
            running,
            claimers,
        }))
    }

    /// Seconds since the stalest heartbeat of a running task (`None` when nothing runs): what an
    /// operator alerts on before the janitor's `staleTimeout` hands such a task back.
    pub async fn task_oldest_heartbeat_age(&self) -> Result<Option<f64>> {
        Ok(match &self.db {
            Db::Pg(pool) => {
                sqlx::query_scalar(
                    "SELECT EXTRACT(EPOCH FROM now() - min(last_heartbeat_at))::float8 FROM tasks WHERE status = 'processing'",
                )
                .fetch_one(pool)
                .await?
            }
            Db::Sqlite { read, .. } => {
                sqlx::query_scalar(
                    "SELECT (julianday('now') - julianday(min(last_heartbeat_at))) * 86400.0
                     FROM tasks WHERE status = 'processing'",
                )
                .fetch_one(read)
                .await?
            }
        })
    }

    pub async fn task_count_by_status(&self) -> Result<Vec<(TaskStatus, i64)>> {
        let rows: Vec<(String, i64)> = match &self.db {
            Db::Pg(pool) => {
                sqlx::query_as("SELECT status, count(*) FROM tasks GROUP BY status").fetch_all(pool).await?
            }
            Db::Sqlite { read, .. } => {
                sqlx::query_as("SELECT status, count(*) FROM tasks GROUP BY status").fetch_all(read).await?
            }
        };
        rows.into_iter().map(|(status, count)| Ok((parse_status(&status)?, count))).collect()
    }
}

fn pg_filters(query: &mut QueryBuilder<Postgres>, filter: &TaskListQuery) {
    let mut sep = " WHERE ";
    if !filter.created_by.is_empty() {
        query.push(sep).push("created_by = ANY(").push_bind(filter.created_by.clone()).push(")");
        sep = " AND ";
    }
    if !filter.status.is_empty() {
        let statuses: Vec<String> = filter.status.iter().map(|s| s.as_str().to_owned()).collect();
        query.push(sep).push("status = ANY(").push_bind(statuses).push(")");
    }
}

fn sqlite_filters(query: &mut QueryBuilder<Sqlite>, filter: &TaskListQuery) {
    let mut sep = " WHERE ";
    if !filter.created_by.is_empty() {
        query.push(sep).push("created_by IN (");
        let mut list = query.separated(", ");
        for creator in &filter.created_by {
            list.push_bind(creator.clone());
        }
        query.push(")");
        sep = " AND ";
    }
    if !filter.status.is_empty() {
        query.push(sep).push("status IN (");
        let mut list = query.separated(", ");
        for status in &filter.status {
            list.push_bind(status.as_str());
        }
        query.push(")");
    }
}

fn push_order_and_page<'a, DB>(query: &mut QueryBuilder<DB>, filter: &TaskListQuery)
where
    DB: sqlx::Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    query.push(" ORDER BY ");
    if filter.order.is_empty() {
        query.push("created_at DESC");
    }
    for (i, order) in filter.order.iter().enumerate() {
        if i > 0 {
            query.push(", ");
        }
        // Only allow-listed column names reach the SQL text.
        query.push(order.field.column()).push(if order.descending { " DESC" } else { " ASC" });
    }
    // A stable tie-break so that paging never repeats or skips a task. Ids are time-ordered
    // (UUIDv7), so they break creation-time ties in creation order.
    let newest_first = filter.order.iter().find(|o| o.field == OrderField::CreatedAt).is_none_or(|o| o.descending);
    query.push(if newest_first { ", created_at DESC, id DESC" } else { ", created_at ASC, id ASC" });
    // Without a limit, one larger than any table (both databases accept it).
    query.push(" LIMIT ").push_bind(filter.limit.unwrap_or(i64::MAX).max(0));
    query.push(" OFFSET ").push_bind(filter.offset.unwrap_or(0).max(0));
}

/// Builds a [`TaskRow`] from a row of either database; only the id column decodes differently.
macro_rules! task_row {
    ($row:expr, $id:expr) => {
        TaskRow {
            id: $id,
            spec: $row.try_get("spec")?,
            status: parse_status($row.try_get("status")?)?,
            created_at: $row.try_get("created_at")?,
            last_heartbeat_at: $row.try_get("last_heartbeat_at")?,
            created_by: $row.try_get("created_by")?,
            template_ref: $row.try_get("template_ref")?,
            attempt: $row.try_get("attempt")?,
            claimed_by: $row.try_get("claimed_by")?,
            cancel_requested: $row.try_get("cancel_requested")?,
            completed_at: $row.try_get("completed_at")?,
        }
    };
}

fn pg_task_row(row: &PgRow) -> Result<TaskRow> {
    Ok(task_row!(row, row.try_get("id")?))
}

fn sqlite_task_row(row: &SqliteRow) -> Result<TaskRow> {
    Ok(task_row!(row, parse_uuid(row.try_get("id")?)?))
}

pub(crate) fn parse_uuid(text: &str) -> Result<Uuid> {
    text.parse().map_err(|_| StoreError::Corrupt { table: "tasks", message: format!("invalid uuid '{text}'") })
}

/// Appends events to one task inside a transaction that already holds its row lock.
pub(crate) async fn pg_insert_events(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    id: Uuid,
    events: &[NewEvent],
) -> Result<()> {
    for event in events {
        sqlx::query("INSERT INTO task_events (task_id, event_type, body) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(event.event_type.as_str())
            .bind(&event.body)
            .execute(&mut **tx)
            .await?;
    }
    if !events.is_empty() {
        sqlx::query("SELECT pg_notify('scaffolder_events', $1)").bind(id.to_string()).execute(&mut **tx).await?;
    }
    Ok(())
}

pub(crate) async fn sqlite_insert_events(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    id: Uuid,
    events: &[NewEvent],
) -> Result<()> {
    for event in events {
        sqlx::query("INSERT INTO task_events (task_id, event_type, body) VALUES (?1, ?2, ?3)")
            .bind(id.to_string())
            .bind(event.event_type.as_str())
            .bind(&event.body)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
