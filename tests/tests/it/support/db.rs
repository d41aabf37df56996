//! A fresh database per test: a new PostgreSQL database (dropped afterwards), or SQLite.

use sqlx::Connection;
use sqlx::postgres::PgConnection;
use store::{DbSettings, PgSettings, SqliteLocation, Store};

/// `SCAFFOLDER_TEST_DATABASE_URL`, as DESIGN.md §8 fixes it.
pub fn admin_url() -> String {
    std::env::var("SCAFFOLDER_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

pub struct TestDb {
    pub url: String,
    name: String,
    admin: String,
}

impl TestDb {
    pub async fn postgres() -> TestDb {
        let admin = admin_url();
        let name = format!("scaffolder_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {admin} (set SCAFFOLDER_TEST_DATABASE_URL): {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.unwrap();
        conn.close().await.ok();
        TestDb { url: options_to_url(&admin, &name), name, admin }
    }

    pub fn settings(&self) -> DbSettings {
        DbSettings::Postgres(PgSettings { url: Some(self.url.clone()), ..PgSettings::default() })
    }

    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.settings()).await.unwrap();
        store.migrate().await.unwrap();
        store
    }
}

/// The admin URL with its database replaced.
fn options_to_url(admin: &str, database: &str) -> String {
    let (base, query) = admin.split_once('?').map_or((admin, None), |(b, q)| (b, Some(q)));
    let authority_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop runs outside any runtime guarantee: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&admin).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

pub async fn sqlite_memory() -> Store {
    let store = Store::connect(&DbSettings::Sqlite(SqliteLocation::Memory)).await.unwrap();
    store.migrate().await.unwrap();
    store
}

pub async fn sqlite_file(dir: &std::path::Path) -> Store {
    let store = Store::connect(&DbSettings::Sqlite(SqliteLocation::File(dir.join("test.sqlite")))).await.unwrap();
    store.migrate().await.unwrap();
    store
}

#[test]
fn urls_swap_their_database() {
    assert_eq!(
        options_to_url("postgres://postgres@127.0.0.1:5432/postgres", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(options_to_url("postgres://u:p@h/db?sslmode=disable", "x"), "postgres://u:p@h/x?sslmode=disable");
    assert_eq!(options_to_url("postgres://u@h:1", "x"), "postgres://u@h:1/x");
}
