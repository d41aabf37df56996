//! The conformance corpus (`tests/fixtures/conformance`, copied unchanged from
//! `shared/conformance`): templates with the answers the real Backstage gave. Every case is replayed
//! through `POST /v2/dry-run` over real HTTP and through the `scaffolder dry-run` CLI, and compared
//! with the corpus's rules (its `compare.py`, ported below; `ORIGIN-README.md` describes them).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use actions::{Registry, RegistryConfig, Runner, RunnerConfig};
use api::{ApiConfig, AppParts, AuthConfig};
use base64::Engine;
use regex::Regex;
use serde_json::Value;

use crate::support::db::sqlite_memory;
use crate::support::process::binary;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/conformance/cases")
}

fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus())
        .expect("the conformance corpus is checked in")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.join("expected.json").is_file())
        .collect();
    cases.sort();
    assert!(cases.len() >= 25, "the corpus has {} cases", cases.len());
    cases
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn name(case: &Path) -> String {
    case.file_name().unwrap().to_string_lossy().into_owned()
}

/// A real HTTP server on the embedded SQLite store, as `scaffolder serve` would run it.
async fn serve(work: &Path) -> String {
    let store = sqlite_memory().await;
    let runner = Runner::new(
        Arc::new(Registry::builtin(&RegistryConfig {
            catalog: Arc::new(catalog::StoreCatalog::with_catalog(Arc::new(catalog::Catalog::new(
                store.clone(),
                catalog::CatalogConfig::default(),
            )))),
            ..RegistryConfig::default()
        })),
        RunnerConfig::default(),
    );
    let app = api::app(AppParts {
        store,
        runner: Arc::new(runner),
        working_directory: work.to_path_buf(),
        catalog: None,
        auth: AuthConfig { disable_default_policy: true, ..AuthConfig::default() },
        config: ApiConfig::default(),
        worker_health: None,
        metrics: None,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_case_through_the_dry_run_api() {
    let work = tempfile::tempdir().unwrap();
    let base = serve(work.path()).await;
    let client = reqwest::Client::new();
    let mut failures = Vec::new();
    for case in cases() {
        let request = std::fs::read(case.join("request.json")).unwrap();
        let response = client
            .post(format!("{base}/api/scaffolder/v2/dry-run"))
            .header("content-type", "application/json")
            .body(request)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        if let Err(reason) = compare(&case, status, &body, Flags::default()) {
            failures.push(format!("FAIL {}: {reason}", name(&case)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Nothing is left behind: uploaded contents and workspaces are removed (just after each
    // answer, so allow a moment).
    let remaining = || {
        std::fs::read_dir(work.path())
            .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    crate::support::eventually(
        std::time::Duration::from_secs(20),
        "the dry-runs' directories to be removed",
        || async { remaining().is_empty().then_some(()) },
    )
    .await;
}

/// The CLI runs the case's directory in place. It reads real file modes where the API's uploads
/// carry none, so executable bits are not compared.
#[test]
fn every_case_through_the_dry_run_cli() {
    let mut failures = Vec::new();
    for case in cases() {
        let expected = read_json(&case.join("expected.json"));
        let status = expected["status"].as_u64().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let output = scratch.path().join("out");
        let mut command = Command::new(binary());
        command
            .current_dir(scratch.path())
            .env("APP_CONFIG_backend_workingDirectory", scratch.path().join("work"))
            .arg("dry-run")
            .arg(&case)
            .arg("--values")
            .arg(case.join("values.json"))
            .arg("--output")
            .arg(&output)
            .arg("--json");
        if case.join("secrets.json").is_file() {
            command.arg("--secrets").arg(case.join("secrets.json"));
        }
        let result = command.output().unwrap();
        let code = result.status.code();
        let stderr = String::from_utf8_lossy(&result.stderr);
        let wanted = match status {
            200 => 0,
            _ if expected["body"].get("errors").is_some() => 2,
            _ => 1,
        };
        if code != Some(wanted) {
            failures.push(format!("FAIL {}: exit {code:?}, wanted {wanted}\n{stderr}", name(&case)));
            continue;
        }
        if status != 200 {
            continue;
        }
        let stdout = String::from_utf8_lossy(&result.stdout);
        // Steps see the template's own reference where the API says `template:default/dry-run`.
        let flags = Flags { ignore_executable: true, template_ref: Some(format!("template:default/{}", name(&case))) };
        if let Err(reason) = compare(&case, 200, &stdout, flags) {
            failures.push(format!("FAIL {} (--json): {reason}", name(&case)));
            continue;
        }
        // The files written to --output are the ones the JSON lists.
        let body: Value = serde_json::from_str(&stdout).unwrap();
        for file in body["directoryContents"].as_array().unwrap() {
            let path = output.join(file["path"].as_str().unwrap());
            let content =
                base64::engine::general_purpose::STANDARD.decode(file["base64Content"].as_str().unwrap()).unwrap();
            match std::fs::read(&path) {
                Ok(written) if written == content => {}
                Ok(_) => failures.push(format!("FAIL {}: {} differs on disk", name(&case), path.display())),
                Err(e) => failures.push(format!("FAIL {}: {}: {e}", name(&case), path.display())),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---- The corpus's comparison rules (compare.py) ----

#[derive(Clone, Default)]
struct Flags {
    ignore_executable: bool,
    /// Read as `template:default/dry-run` in file contents.
    template_ref: Option<String>,
}

fn uuid_pattern() -> Regex {
    Regex::new(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}").unwrap()
}

fn normalise_text(text: &str) -> String {
    uuid_pattern().replace_all(text, "<uuid>").into_owned()
}

fn norm_message(text: &str) -> String {
    let ansi = Regex::new(r"\x1b\[[0-9;]*m").unwrap();
    normalise_text(&ansi.replace_all(text, ""))
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 120 { text } else { format!("{}...", text.chars().take(120).collect::<String>()) }
}

/// Deep equality: key order ignored, array order kept, booleans never equal numbers, numbers by
/// value, strings after UUID normalisation.
fn same_json(expected: &Value, actual: &Value, at: &str) -> Result<(), String> {
    let differ = || Err(format!("{at}: expected {}, got {}", short(expected), short(actual)));
    match (expected, actual) {
        (Value::Bool(a), Value::Bool(b)) if a == b => Ok(()),
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => Ok(()),
        (Value::String(a), Value::String(b)) if normalise_text(a) == normalise_text(b) => Ok(()),
        (Value::Null, Value::Null) => Ok(()),
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Err(format!("{at}: expected an array of {}, got {}: {}", a.len(), b.len(), short(actual)));
            }
            a.iter().zip(b).enumerate().try_for_each(|(i, (x, y))| same_json(x, y, &format!("{at}[{i}]")))
        }
        (Value::Object(a), Value::Object(b)) => {
            let missing: Vec<_> = a.keys().filter(|k| !b.contains_key(*k)).collect();
            let extra: Vec<_> = b.keys().filter(|k| !a.contains_key(*k)).collect();
            if !missing.is_empty() {
                return Err(format!("{at}: missing key(s) {missing:?}"));
            }
            if !extra.is_empty() {
                return Err(format!("{at}: unexpected key(s) {extra:?}"));
            }
            a.iter().try_for_each(|(k, v)| same_json(v, &b[k], &format!("{at}.{k}")))
        }
        _ => differ(),
    }
}

fn file_set(body: &Value, label: &str) -> Result<BTreeMap<String, (bool, Vec<u8>)>, String> {
    let files =
        body["directoryContents"].as_array().ok_or_else(|| format!("{label} body has no directoryContents array"))?;
    let mut out = BTreeMap::new();
    for file in files {
        let path = file["path"].as_str().unwrap_or_default().to_owned();
        let content = base64::engine::general_purpose::STANDARD
            .decode(file["base64Content"].as_str().unwrap_or_default())
            .map_err(|e| format!("{label} directoryContents {path}: bad base64 ({e})"))?;
        let executable = file["executable"].as_bool().unwrap_or(false);
        if out.insert(path.clone(), (executable, content)).is_some() {
            return Err(format!("{label} directoryContents lists {path} twice"));
        }
    }
    Ok(out)
}

fn compare_files(expected: &Value, actual: &Value, flags: &Flags) -> Result<(), String> {
    let (e, mut a) = (file_set(expected, "expected")?, file_set(actual, "actual")?);
    if let Some(reference) = &flags.template_ref {
        for (_, content) in a.values_mut() {
            if let Ok(text) = String::from_utf8(content.clone()) {
                *content = text.replace(reference.as_str(), "template:default/dry-run").into_bytes();
            }
        }
    }
    let missing: Vec<_> = e.keys().filter(|k| !a.contains_key(*k)).collect();
    let extra: Vec<_> = a.keys().filter(|k| !e.contains_key(*k)).collect();
    if !missing.is_empty() {
        return Err(format!("directoryContents: missing {missing:?}"));
    }
    if !extra.is_empty() {
        return Err(format!("directoryContents: unexpected {extra:?}"));
    }
    for (path, (x, content)) in &e {
        let (y, actual_content) = &a[path];
        if x != y && !flags.ignore_executable {
            return Err(format!("directoryContents {path}: executable expected {x}, got {y}"));
        }
        if content != actual_content {
            let at = content
                .iter()
                .zip(actual_content)
                .position(|(p, q)| p != q)
                .unwrap_or(content.len().min(actual_content.len()));
            let window =
                |c: &[u8]| String::from_utf8_lossy(&c[at.saturating_sub(30)..(at + 50).min(c.len())]).into_owned();
            return Err(format!(
                "directoryContents {path}: content differs at byte {at} (sizes {}/{}): expected {:?}, got {:?}",
                content.len(),
                actual_content.len(),
                window(content),
                window(actual_content)
            ));
        }
    }
    Ok(())
}

fn log_bodies<'a>(body: &'a Value, label: &str) -> Result<Vec<&'a Value>, String> {
    let log = body["log"].as_array().ok_or_else(|| format!("{label} body has no log array"))?;
    log.iter()
        .map(|entry| match &entry["body"] {
            b @ Value::Object(_) if b["message"].is_string() => Ok(b),
            _ => Err(format!("{label} log entry without body.message: {}", short(entry))),
        })
        .collect()
}

fn compare_log(expected: &Value, actual: &Value, secrets: &[String]) -> Result<(), String> {
    let (e, a) = (log_bodies(expected, "expected")?, log_bodies(actual, "actual")?);
    let statuses = |bodies: &[&Value]| -> Vec<(Value, Value)> {
        bodies
            .iter()
            .filter(|b| b.get("status").is_some())
            .map(|b| (b["stepId"].clone(), b["status"].clone()))
            .collect()
    };
    let (es, as_) = (statuses(&e), statuses(&a));
    if es != as_ {
        if let Some(i) = es.iter().zip(&as_).position(|(x, y)| x != y) {
            return Err(format!("log step status #{i}: expected {:?}, got {:?}", es[i], as_[i]));
        }
        return Err(format!("log step statuses: expected {} entries, got {}: {:?}", es.len(), as_.len(), as_));
    }
    let message = |b: &Value| b["message"].as_str().unwrap_or_default().to_owned();
    let expected_text: Vec<String> = e.iter().map(|b| message(b)).collect();
    let expected_text = expected_text.join("\n");
    for secret in secrets {
        if expected_text.contains(secret.as_str()) {
            continue;
        }
        if let Some(b) = a.iter().find(|b| message(b).contains(secret.as_str())) {
            return Err(format!("log leaks a secret value in step {}: {}", b["stepId"], message(b)));
        }
    }
    let mut cursor: HashMap<String, usize> = HashMap::new();
    for b in &e {
        let text = norm_message(&message(b));
        if !text.contains("***") {
            continue;
        }
        let step = b["stepId"].to_string();
        let pattern = format!("(?s)^{}$", text.split("***").map(regex::escape).collect::<Vec<_>>().join("(.*?)"));
        let pattern = Regex::new(&pattern).unwrap();
        let candidates: Vec<String> =
            a.iter().filter(|x| x["stepId"] == b["stepId"]).map(|x| norm_message(&message(x))).collect();
        let start = cursor.get(&step).copied().unwrap_or(0);
        let found = (start..candidates.len()).find(|&i| {
            let c = &candidates[i];
            pattern.is_match(c) && c.contains("***") && !secrets.iter().any(|s| c.contains(s.as_str()))
        });
        match found {
            Some(i) => {
                cursor.insert(step, i + 1);
            }
            None => {
                let near = candidates[start.min(candidates.len())..].iter().find(|c| pattern.is_match(c));
                let why = match near {
                    Some(c) => format!("counterpart not redacted: {c}"),
                    None => "no log message with the same text".to_owned(),
                };
                return Err(format!("redacted log message in step {step} {text}: {why}"));
            }
        }
    }
    Ok(())
}

fn load_secrets(case: &Path) -> Vec<String> {
    let source = if case.join("secrets.json").is_file() {
        read_json(&case.join("secrets.json"))
    } else {
        read_json(&case.join("request.json"))["secrets"].clone()
    };
    source
        .as_object()
        .map(|m| {
            m.values().filter_map(Value::as_str).filter(|v| v.trim().chars().count() > 1).map(str::to_owned).collect()
        })
        .unwrap_or_default()
}

fn compare(case: &Path, status: u16, body: &str, flags: Flags) -> Result<(), String> {
    let expected = read_json(&case.join("expected.json"));
    if u64::from(status) != expected["status"].as_u64().unwrap() {
        return Err(format!(
            "status: expected {}, got {status}: {}",
            expected["status"],
            body.chars().take(400).collect::<String>()
        ));
    }
    let actual: Value = serde_json::from_str(body).map_err(|_| format!("body is not JSON: {body}"))?;
    if !actual.is_object() {
        return Err(format!("body is not a JSON object: {}", short(&actual)));
    }
    let exp = &expected["body"];
    if !(200..300).contains(&status) {
        if exp.get("errors").is_some() {
            return match actual["errors"] {
                Value::Array(_) => Ok(()),
                _ => Err(format!("expected an `errors` array, got {}", short(&actual))),
            };
        }
        let (e, a) = (&exp["error"]["name"], &actual["error"]["name"]);
        return if e == a { Ok(()) } else { Err(format!("error.name: expected {e}, got {a}")) };
    }
    compare_files(exp, &actual, &flags)?;
    let output = actual.get("output").ok_or("body has no output")?;
    same_json(&exp["output"], output, "output")?;
    compare_log(exp, &actual, &load_secrets(case))
}

/// The comparator itself must reject what differs.
#[test]
fn comparator_rejects_differences() {
    use serde_json::json;
    assert!(same_json(&json!({"a": [1, true]}), &json!({"a": [1.0, true]}), "o").is_ok());
    assert!(same_json(&json!({"a": true}), &json!({"a": 1}), "o").is_err());
    assert!(same_json(&json!({"a": null}), &json!({}), "o").is_err());
    assert!(same_json(&json!(["x", "y"]), &json!(["y", "x"]), "o").is_err());
    let expected = json!({"log": [{"body": {"message": "token ***", "stepId": "s"}}]});
    let leaked = json!({"log": [{"body": {"message": "token hunter22", "stepId": "s"}}]});
    let redacted = json!({"log": [{"body": {"message": "token ***", "stepId": "s"}}]});
    assert!(compare_log(&expected, &leaked, &["hunter22".to_owned()]).is_err());
    assert!(compare_log(&expected, &redacted, &["hunter22".to_owned()]).is_ok());
    let files = |content: &str| json!({"directoryContents": [{"path": "a", "base64Content": base64::engine::general_purpose::STANDARD.encode(content)}]});
    assert!(compare_files(&files("x"), &files("y"), &Flags::default()).is_err());
    assert!(compare_files(&files("x"), &files("x"), &Flags::default()).is_ok());
}
