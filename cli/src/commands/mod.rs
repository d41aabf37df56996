//! One file per subcommand.

pub mod api;
pub mod dry_run;
pub mod explain;
pub mod janitor;
pub mod migrate;
pub mod serve;
pub mod worker;
