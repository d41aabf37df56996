//! Configuration, read once at start-up and handed down as typed values.
//!
//! Backstage's layout and rules: several `--config` files merged in order (later wins), `${VAR}`
//! substitution and `$env`/`$file`/`$include` in values, `APP_CONFIG_<path>` overrides on top.
//! `load` builds the merged tree; `reader` reads keys with errors that name them; `settings`
//! turns the tree into what each component needs.

mod load;
mod reader;
mod settings;

pub use load::{ConfigSources, load};
pub use settings::{DatabaseKind, Settings};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {message}")]
    Read { path: String, message: String },
    #[error("invalid YAML in config file {path}: {message}")]
    Yaml { path: String, message: String },
    #[error("Invalid type in config for key '{key}', got {found}, wanted {wanted}")]
    WrongType { key: String, found: &'static str, wanted: &'static str },
    #[error("Invalid value in config for key '{key}': {message}")]
    Invalid { key: String, message: String },
}
