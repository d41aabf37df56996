//! The integration suite: one test binary (faster to build and link than one per file).
//!
//! - `store_contract`: the same queue semantics proven on PostgreSQL and on SQLite.
//! - `api`: the HTTP API, driven through the router (no socket), against Backstage's captures.
//! - `worker`: the worker pool in-process, on real PostgreSQL.
//! - `processes`: real `scaffolder` processes: API + workers, kill -9, SIGTERM, cancels across
//!   processes, a PostgreSQL restart, 500 tasks.
//! - `cli`: start-up behaviour and configuration errors of the binary.
//! - `auth`: user tokens (Backstage's and OIDC) against JWKS served over real HTTP.
//! - `catalog_api`: `/api/catalog` against the catalog captures, on both databases.
//! - `github`: the GitHub actions against wiremock's GitHub and a real git server.
//! - `techdocs`: documentation sites from a local publish directory.
//! - `conformance`: the dry-run corpus recorded from the real Backstage, through the API and the CLI.

mod api;
mod auth;
mod catalog_api;
mod cli;
mod conformance;
mod github;
mod processes;
mod store_contract;
mod support;
mod techdocs;
mod worker;
