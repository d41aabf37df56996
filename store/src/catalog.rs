//! The catalog tables: locations and the entities read from them.

use sqlx::Row;
use uuid::Uuid;

use crate::task::parse_uuid;
use crate::{Db, Result, Store};

#[derive(Clone, Debug)]
pub struct NewEntity {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// Entity JSON text, `metadata.uid` included.
    pub entity: String,
    pub location_id: Option<Uuid>,
}

impl NewEntity {
    /// The key entities are compared by: `kind:namespace/name`, lower-cased as Backstage does.
    pub fn entity_ref(&self) -> String {
        entity_ref_key(&self.kind, &self.namespace, &self.name)
    }
}

pub fn entity_ref_key(kind: &str, namespace: &str, name: &str) -> String {
    format!("{kind}:{namespace}/{name}").to_lowercase()
}

#[derive(Clone, Debug)]
pub struct EntityRow {
    pub uid: Uuid,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub entity: String,
    /// The location it was read from (none once that location is deleted).
    pub location_id: Option<Uuid>,
}

/// A registered location (`catalog_locations`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocationRow {
    pub id: Uuid,
    pub location_type: String,
    pub target: String,
    /// Configured in `catalog.locations` rather than registered through the API.
    pub from_config: bool,
}

/// Builds an [`EntityRow`] from a row of either database, given its decoded uid.
macro_rules! entity_row {
    ($row:expr, $uid:expr, $location:expr) => {
        EntityRow {
            uid: $uid,
            kind: $row.try_get("kind")?,
            namespace: $row.try_get("namespace")?,
            name: $row.try_get("name")?,
            entity: $row.try_get("entity")?,
            location_id: $location,
        }
    };
}

/// An [`EntityRow`] of PostgreSQL.
fn pg_entity(row: &sqlx::postgres::PgRow) -> Result<EntityRow> {
    Ok(entity_row!(row, row.try_get("uid")?, row.try_get("location_id")?))
}

/// An [`EntityRow`] of SQLite, where ids are text.
fn sqlite_entity(row: &sqlx::sqlite::SqliteRow) -> Result<EntityRow> {
    let location: Option<String> = row.try_get("location_id")?;
    Ok(entity_row!(row, parse_uuid(row.try_get("uid")?)?, location.as_deref().map(parse_uuid).transpose()?))
}

fn pg_location(row: &sqlx::postgres::PgRow) -> Result<LocationRow> {
    Ok(LocationRow {
        id: row.try_get("id")?,
        location_type: row.try_get("type")?,
        target: row.try_get("target")?,
        from_config: row.try_get("from_config")?,
    })
}

fn sqlite_location(row: &sqlx::sqlite::SqliteRow) -> Result<LocationRow> {
    Ok(LocationRow {
        id: parse_uuid(row.try_get("id")?)?,
        location_type: row.try_get("type")?,
        target: row.try_get("target")?,
        from_config: row.try_get::<i64, _>("from_config")? != 0,
    })
}

/// A literal `SELECT` of every entity column, followed by `$rest`.
macro_rules! entity_select {
    ($rest:literal) => {
        concat!("SELECT uid, kind, namespace, name, entity, location_id FROM catalog_entities ", $rest)
    };
}

impl Store {
    /// Registers a location once; returns its id (the existing one if already registered). A
    /// location becomes `from_config` once configuration names it.
    pub async fn location_upsert(&self, location_type: &str, target: &str, from_config: bool) -> Result<Uuid> {
        let id = Uuid::new_v4();
        match &self.db {
            Db::Pg(pool) => Ok(sqlx::query_scalar(
                "INSERT INTO catalog_locations (id, type, target, from_config) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (type, target) DO UPDATE SET from_config = catalog_locations.from_config OR EXCLUDED.from_config
                 RETURNING id",
            )
            .bind(id)
            .bind(location_type)
            .bind(target)
            .bind(from_config)
            .fetch_one(pool)
            .await?),
            Db::Sqlite { write, .. } => {
                let id: String = sqlx::query_scalar(
                    "INSERT INTO catalog_locations (id, type, target, from_config) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (type, target) DO UPDATE SET from_config = max(catalog_locations.from_config, excluded.from_config)
                     RETURNING id",
                )
                .bind(id.to_string())
                .bind(location_type)
                .bind(target)
                .bind(i64::from(from_config))
                .fetch_one(write)
                .await?;
                parse_uuid(&id)
            }
        }
    }

    /// The uid an entity already has, so that re-reading a location keeps it stable.
    pub async fn entity_uid(&self, kind: &str, namespace: &str, name: &str) -> Result<Option<Uuid>> {
        let key = entity_ref_key(kind, namespace, name);
        match &self.db {
            Db::Pg(pool) => Ok(sqlx::query_scalar("SELECT uid FROM catalog_entities WHERE entity_ref = $1")
                .bind(key)
                .fetch_optional(pool)
                .await?),
            Db::Sqlite { read, .. } => {
                let uid: Option<String> = sqlx::query_scalar("SELECT uid FROM catalog_entities WHERE entity_ref = ?1")
                    .bind(key)
                    .fetch_optional(read)
                    .await?;
                uid.as_deref().map(parse_uuid).transpose()
            }
        }
    }

    /// Inserts or replaces an entity, keyed by its reference. `uid` must be the one
    /// [`Store::entity_uid`] returned, or a new one.
    pub async fn entity_upsert(&self, uid: Uuid, entity: &NewEntity) -> Result<()> {
        match &self.db {
            Db::Pg(pool) => {
                sqlx::query(
                    "INSERT INTO catalog_entities (uid, entity_ref, kind, namespace, name, entity, location_id)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (entity_ref) DO UPDATE SET kind = EXCLUDED.kind, namespace = EXCLUDED.namespace,
                        name = EXCLUDED.name, entity = EXCLUDED.entity, location_id = EXCLUDED.location_id,
                        updated_at = now()",
                )
                .bind(uid)
                .bind(entity.entity_ref())
                .bind(&entity.kind)
                .bind(&entity.namespace)
                .bind(&entity.name)
                .bind(&entity.entity)
                .bind(entity.location_id)
                .execute(pool)
                .await?;
            }
            Db::Sqlite { write, .. } => {
                sqlx::query(
                    "INSERT INTO catalog_entities (uid, entity_ref, kind, namespace, name, entity, location_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (entity_ref) DO UPDATE SET kind = excluded.kind, namespace = excluded.namespace,
                        name = excluded.name, entity = excluded.entity, location_id = excluded.location_id,
                        updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                )
                .bind(uid.to_string())
                .bind(entity.entity_ref())
                .bind(&entity.kind)
                .bind(&entity.namespace)
                .bind(&entity.name)
                .bind(&entity.entity)
                .bind(entity.location_id.map(|id| id.to_string()))
                .execute(write)
                .await?;
            }
        }
        Ok(())
    }

    /// Looks an entity up by kind, namespace and name, case-insensitively.
    pub async fn entity_get(&self, kind: &str, namespace: &str, name: &str) -> Result<Option<EntityRow>> {
        let key = entity_ref_key(kind, namespace, name);
        match &self.db {
            Db::Pg(pool) => sqlx::query(
                "SELECT uid, kind, namespace, name, entity, location_id FROM catalog_entities WHERE entity_ref = $1",
            )
            .bind(key)
            .fetch_optional(pool)
            .await?
            .map(|row| pg_entity(&row))
            .transpose(),
            Db::Sqlite { read, .. } => sqlx::query(
                "SELECT uid, kind, namespace, name, entity, location_id FROM catalog_entities WHERE entity_ref = ?1",
            )
            .bind(key)
            .fetch_optional(read)
            .await?
            .map(|row| sqlite_entity(&row))
            .transpose(),
        }
    }

    /// Every entity of a kind (case-insensitive), ordered by reference.
    pub async fn entity_list_by_kind(&self, kind: &str) -> Result<Vec<EntityRow>> {
        let kind = kind.to_lowercase();
        let rows = match &self.db {
            Db::Pg(pool) => {
                let rows = sqlx::query(
                    "SELECT uid, kind, namespace, name, entity, location_id FROM catalog_entities WHERE lower(kind) = $1 ORDER BY entity_ref",
                )
                .bind(kind)
                .fetch_all(pool)
                .await?;
                rows.iter().map(pg_entity).collect::<Result<Vec<_>>>()?
            }
            Db::Sqlite { read, .. } => {
                let rows = sqlx::query(
                    "SELECT uid, kind, namespace, name, entity, location_id FROM catalog_entities WHERE lower(kind) = ?1 ORDER BY entity_ref",
                )
                .bind(kind)
                .fetch_all(read)
                .await?;
                rows.iter().map(sqlite_entity).collect::<Result<Vec<_>>>()?
            }
        };
        Ok(rows)
    }

    /// Every entity, ordered by reference.
    pub async fn entity_list_all(&self) -> Result<Vec<EntityRow>> {
        let sql = entity_select!("ORDER BY entity_ref");
        match &self.db {
            Db::Pg(pool) => sqlx::query(sql).fetch_all(pool).await?.iter().map(pg_entity).collect(),
            Db::Sqlite { read, .. } => sqlx::query(sql).fetch_all(read).await?.iter().map(sqlite_entity).collect(),
        }
    }

    /// The entities read from one location.
    pub async fn entity_list_by_location(&self, location: Uuid) -> Result<Vec<EntityRow>> {
        match &self.db {
            Db::Pg(pool) => {
                let sql = entity_select!("WHERE location_id = $1 ORDER BY entity_ref");
                sqlx::query(sql).bind(location).fetch_all(pool).await?.iter().map(pg_entity).collect()
            }
            Db::Sqlite { read, .. } => {
                let sql = entity_select!("WHERE location_id = ?1 ORDER BY entity_ref");
                sqlx::query(sql).bind(location.to_string()).fetch_all(read).await?.iter().map(sqlite_entity).collect()
            }
        }
    }

    pub async fn entity_get_by_uid(&self, uid: Uuid) -> Result<Option<EntityRow>> {
        match &self.db {
            Db::Pg(pool) => {
                let sql = entity_select!("WHERE uid = $1");
                sqlx::query(sql).bind(uid).fetch_optional(pool).await?.as_ref().map(pg_entity).transpose()
            }
            Db::Sqlite { read, .. } => {
                let sql = entity_select!("WHERE uid = ?1");
                sqlx::query(sql)
                    .bind(uid.to_string())
                    .fetch_optional(read)
                    .await?
                    .as_ref()
                    .map(sqlite_entity)
                    .transpose()
            }
        }
    }

    /// Removes an entity; whether it existed.
    pub async fn entity_delete(&self, uid: Uuid) -> Result<bool> {
        let done = match &self.db {
            Db::Pg(pool) => sqlx::query("DELETE FROM catalog_entities WHERE uid = $1")
                .bind(uid)
                .execute(pool)
                .await?
                .rows_affected(),
            Db::Sqlite { write, .. } => sqlx::query("DELETE FROM catalog_entities WHERE uid = ?1")
                .bind(uid.to_string())
                .execute(write)
                .await?
                .rows_affected(),
        };
        Ok(done > 0)
    }

    /// Every registered location, oldest first.
    pub async fn location_list(&self) -> Result<Vec<LocationRow>> {
        let sql = "SELECT id, type, target, from_config FROM catalog_locations ORDER BY created_at, target";
        match &self.db {
            Db::Pg(pool) => sqlx::query(sql).fetch_all(pool).await?.iter().map(pg_location).collect(),
            Db::Sqlite { read, .. } => sqlx::query(sql).fetch_all(read).await?.iter().map(sqlite_location).collect(),
        }
    }

    pub async fn location_get(&self, id: Uuid) -> Result<Option<LocationRow>> {
        match &self.db {
            Db::Pg(pool) => sqlx::query("SELECT id, type, target, from_config FROM catalog_locations WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
                .as_ref()
                .map(pg_location)
                .transpose(),
            Db::Sqlite { read, .. } => {
                sqlx::query("SELECT id, type, target, from_config FROM catalog_locations WHERE id = ?1")
                    .bind(id.to_string())
                    .fetch_optional(read)
                    .await?
                    .as_ref()
                    .map(sqlite_location)
                    .transpose()
            }
        }
    }

    pub async fn location_find(&self, location_type: &str, target: &str) -> Result<Option<LocationRow>> {
        match &self.db {
            Db::Pg(pool) => sqlx::query(
                "SELECT id, type, target, from_config FROM catalog_locations WHERE type = $1 AND target = $2",
            )
            .bind(location_type)
            .bind(target)
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(pg_location)
            .transpose(),
            Db::Sqlite { read, .. } => sqlx::query(
                "SELECT id, type, target, from_config FROM catalog_locations WHERE type = ?1 AND target = ?2",
            )
            .bind(location_type)
            .bind(target)
            .fetch_optional(read)
            .await?
            .as_ref()
            .map(sqlite_location)
            .transpose(),
        }
    }

    /// Removes a location; its entities stay (their `location_id` is cleared). Whether it existed.
    pub async fn location_delete(&self, id: Uuid) -> Result<bool> {
        let done = match &self.db {
            Db::Pg(pool) => {
                sqlx::query("DELETE FROM catalog_locations WHERE id = $1").bind(id).execute(pool).await?.rows_affected()
            }
            Db::Sqlite { write, .. } => sqlx::query("DELETE FROM catalog_locations WHERE id = ?1")
                .bind(id.to_string())
                .execute(write)
                .await?
                .rows_affected(),
        };
        Ok(done > 0)
    }
}
