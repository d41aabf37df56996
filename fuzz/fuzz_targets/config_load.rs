//! The configuration loader as start-up runs it: an `app-config.yaml` (the fuzz input) merged over
//! a base file, with `${VAR}`, `$env`, `$file` and `$include` against a fixed environment and a
//! directory of fixtures, `APP_CONFIG_` overrides, then every typed check (`Settings`). Any text
//! must give settings or an error naming the problem, never a panic.
//!
//! Reading files is the loader's job, so the fuzzer could make it read `/dev/zero` or a FIFO; that
//! is what an operator asked for, not a bug. Inputs with a string that could lead outside the
//! fixtures' directory (absolute, `..` with `/`, or starting with a substitution) are skipped.

#![no_main]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use cli::fuzzing::{ConfigSources, Settings, load};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const BASE: &str = "\
backend:
  baseUrl: http://localhost:7007
  listen: {host: 127.0.0.1, port: 7007}
  database: {client: better-sqlite3, connection: ':memory:'}
scaffolder:
  concurrentTasksLimit: 2
  taskRecovery: {enabled: true, staleTimeout: {seconds: 30}}
";

/// `$include` and `$file` targets the fuzzer can name (the seeds do).
const FIXTURES: &[(&str, &str)] = &[
    ("base.yaml", BASE),
    ("include.yaml", "backend:\n  listen: {port: '${PORT}'}\nsecret: {$env: TOKEN}\nnested: {$include: leaf.yaml#a.b}\n"),
    ("leaf.yaml", "a: {b: {c: 1, d: [x, y]}}\n"),
    ("empty.yaml", ""),
    ("cert.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
    ("policy.csv", "p, role:default/a, scaffolder.task.create, create, allow\ng, user:default/alice, role:default/a\n"),
];

/// Nothing here contains `/` or `.`, so substitution cannot build a path out of the directory.
fn env() -> BTreeMap<String, String> {
    [
        ("PORT", "7010"),
        ("TOKEN", "s3cr3t"),
        ("HOST", "localhost"),
        ("EMPTY", ""),
        ("FLAG", "true"),
        ("APP_CONFIG_scaffolder_maxQueueDepth", "50"),
        ("APP_CONFIG_backend_auth_dangerouslyDisableDefaultAuthPolicy", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn directory() -> &'static PathBuf {
    static DIRECTORY: OnceLock<PathBuf> = OnceLock::new();
    DIRECTORY.get_or_init(|| {
        let dir = tempfile::Builder::new().prefix("config-load-").tempdir().expect("temp dir").keep();
        for (name, text) in FIXTURES {
            std::fs::write(dir.join(name), text).expect("fixture");
        }
        dir
    })
}

/// A string the loader might use as a path outside the fixtures' directory.
fn may_leave(text: &str) -> bool {
    text.starts_with('/') || text.starts_with("${") || (text.contains('/') && (text.contains("..") || text.contains("${")))
}

fn any_may_leave(value: &Value) -> bool {
    match value {
        Value::String(text) => may_leave(text),
        Value::Array(items) => items.iter().any(any_may_leave),
        Value::Object(map) => map.values().any(any_may_leave),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // What the loader will see; unparsable text is still loaded (it fails before reading more).
    if let Ok(value) = serde_norway::from_str::<Value>(text)
        && any_may_leave(&value)
    {
        return;
    }
    let dir = directory();
    let file = dir.join("app-config.yaml");
    std::fs::write(&file, text).expect("write input");
    let sources = ConfigSources { files: vec!["base.yaml".into(), file], cwd: dir.clone(), env: env() };
    let Ok((tree, found)) = load(&sources) else { return };
    assert!(found);
    // The merged tree is what every component reads; checking it must not panic either.
    if let Ok(settings) = Settings::from_tree(&tree, found, dir) {
        let _ = settings.is_loopback();
    }
});
