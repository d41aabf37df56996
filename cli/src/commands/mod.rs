//! One file per subcommand.

pub mod api;
pub mod janitor;
pub mod migrate;
pub mod serve;
pub mod worker;
