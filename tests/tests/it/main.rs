//! The integration suite: one test binary (faster to build and link than one per file).
//!
//! - `store_contract`: the same queue semantics proven on PostgreSQL and on SQLite.
//! - `api`: the HTTP API, driven through the router (no socket), against Backstage's captures.
//! - `worker`: the worker pool in-process, on real PostgreSQL.
//! - `processes`: real `scaffolder` processes: API + workers, kill -9, SIGTERM, cancels across
//!   processes, a PostgreSQL restart, 500 tasks.
//! - `crash`: a storm of kill -9, SIGTERM, SIGSTOP and a PostgreSQL restart over a stream of
//!   tasks; afterwards every task has ended, no side effect overlapped, no secret is left.
//! - `cli`: start-up behaviour and configuration errors of the binary.
//! - `auth`: user tokens (Backstage's and OIDC) against JWKS served over real HTTP.
//! - `catalog_api`: `/api/catalog` against the catalog captures, on both databases.
//! - `github`: the GitHub actions against wiremock's GitHub and a real git server.
//! - `techdocs`: documentation sites from a local publish directory.
//! - `conformance`: the dry-run corpus recorded from the real Backstage, through the API and the CLI.
//! - `ui`: the built-in web page's files, headers and routes (the browser tests are in `ui-tests/`).
//! - `attacks`: every security advisory class and resource bomb, driven through real HTTP against a
//!   real `scaffolder serve`; each is refused clearly, the server stays healthy, canaries untouched.

mod api;
mod attacks;
mod auth;
mod catalog_api;
mod cli;
mod conformance;
mod crash;
mod github;
mod processes;
mod store_contract;
mod support;
mod techdocs;
mod ui;
mod worker;
