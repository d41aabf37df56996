//! `scaffolder dry-run PATH [--values FILE] [--secrets FILE] [--output DIR] [--json]`: runs a
//! template on this machine with no server and no database, for template authors and CI.
//!
//! Progress and the log go to stderr; the resulting files to `--output` (a new temporary
//! directory by default, printed); `--json` prints Backstage's dry-run response on stdout.
//! Exit status: 0 success, 1 the template failed, 2 usage or input error.

use std::io::{IsTerminal, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use actions::{DryRunRequest, DryRunResult, DryRunSource, Secrets, TaskEvent};
use base64::Engine;
use serde_json::{Value, json};
use templates::{Template, UserInfo, validate_values};

use crate::config::Settings;
use crate::wiring;

pub struct Options {
    pub path: PathBuf,
    pub values: Option<PathBuf>,
    pub secrets: Option<PathBuf>,
    pub output: Option<PathBuf>,
    pub json: bool,
}

/// A usage or input problem (exit 2), as opposed to a failing template (exit 1).
#[derive(Debug)]
struct InputProblem(String);

pub async fn run(settings: Settings, options: Options) -> ExitCode {
    let prepared = match prepare(&options) {
        Ok(prepared) => prepared,
        Err(InputProblem(message)) => {
            eprintln!("scaffolder dry-run: {message}");
            return ExitCode::from(2);
        }
    };
    let Prepared { template, template_file, values, secrets, output } = prepared;
    let name = template.name().to_owned();
    eprintln!("Dry-running template {name} ({})", template_file.display());

    let runner = wiring::runner(&settings, None);
    if let Err(error) = std::fs::create_dir_all(&settings.working_directory) {
        eprintln!(
            "scaffolder dry-run: backend.workingDirectory {} cannot be created: {error}",
            settings.working_directory.display()
        );
        return ExitCode::from(2);
    }
    let template_ref = format!("template:{}/{}", template.namespace(), template.name()).to_lowercase();
    let request = DryRunRequest {
        template_ref,
        template,
        values,
        secrets,
        source: DryRunSource::TemplateFile(template_file),
        user: UserInfo::default(),
        observer: Some(Arc::new(print_event)),
    };
    let result = match actions::dry_run(&runner, &settings.working_directory, request).await {
        Ok(result) => result,
        Err(error) => {
            eprintln!("✖ dry-run of {name} failed: {}: {}", error.name, error.message);
            return ExitCode::from(1);
        }
    };
    if let Err(message) = write_tree(&output, &result) {
        eprintln!("scaffolder dry-run: {message}");
        return ExitCode::from(1);
    }
    eprintln!("✔ {} files written to {}", result.files.len(), output.display());
    print_output(&result.output);
    if options.json {
        let body = response_body(&result);
        let text = serde_json::to_string_pretty(&body).expect("JSON values serialise");
        if writeln!(std::io::stdout().lock(), "{text}").is_err() {
            return ExitCode::from(1);
        }
    } else {
        // Scripts read the last line of stdout to find the files.
        println!("{}", output.display());
    }
    ExitCode::SUCCESS
}

struct Prepared {
    template: Template,
    template_file: PathBuf,
    values: Value,
    secrets: Secrets,
    output: PathBuf,
}

fn prepare(options: &Options) -> Result<Prepared, InputProblem> {
    let template_file = template_file(&options.path)?;
    let text = std::fs::read_to_string(&template_file)
        .map_err(|e| InputProblem(format!("cannot read {}: {e}", template_file.display())))?;
    let template = Template::from_yaml(&text).map_err(|e| InputProblem(format!("{}: {e}", template_file.display())))?;

    let values = match &options.values {
        Some(file) => read_document(file)?,
        None => json!({}),
    };
    if !values.is_object() {
        return Err(InputProblem(format!(
            "{}: the values must be a mapping of parameter names to values",
            file_name(&options.values)
        )));
    }
    if let Err(errors) = validate_values(&template.parameter_pages(), &values) {
        let lines: Vec<String> = errors
            .iter()
            .map(|e| format!("  - {} {}", e.property.replacen("instance", "parameters", 1), e.message))
            .collect();
        return Err(InputProblem(format!(
            "the values do not satisfy the template's parameters:\n{}",
            lines.join("\n")
        )));
    }

    let mut secrets = Secrets::new();
    if let Some(file) = &options.secrets {
        let document = read_document(file)?;
        let Some(map) = document.as_object() else {
            return Err(InputProblem(format!("{}: the secrets must be a mapping of names to strings", file.display())));
        };
        for (key, value) in map {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(_) | Value::Bool(_) => value.to_string(),
                _ => return Err(InputProblem(format!("{}: secret {key} must be a string", file.display()))),
            };
            secrets.insert(key.clone(), text);
        }
    }

    if let Some(schema) = template.secrets_schema() {
        let validator = templates::SchemaValidator::compile(schema)
            .map_err(|e| InputProblem(format!("the template's spec.secrets.schema is invalid: {e}")))?;
        let instance = Value::Object(secrets.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect());
        let errors = validator.errors(&instance);
        if !errors.is_empty() {
            let lines: Vec<String> = errors
                .iter()
                .map(|e| format!("  - {} {}", e.property.replacen("instance", "secrets", 1), e.message))
                .collect();
            return Err(InputProblem(format!(
                "the secrets do not satisfy spec.secrets.schema (give them with --secrets FILE):\n{}",
                lines.join("\n")
            )));
        }
    }

    let output = match &options.output {
        Some(directory) => {
            if directory.exists() {
                let empty = std::fs::read_dir(directory)
                    .map_err(|e| InputProblem(format!("--output {}: {e}", directory.display())))?
                    .next()
                    .is_none();
                if !empty {
                    return Err(InputProblem(format!(
                        "--output {} is not empty; remove it or name a new directory, so that old files cannot mix with new ones",
                        directory.display()
                    )));
                }
            }
            directory.clone()
        }
        None => tempfile::Builder::new()
            .prefix("scaffolder-dry-run-")
            .tempdir()
            .map_err(|e| InputProblem(format!("cannot create a temporary directory: {e}")))?
            .keep(),
    };
    Ok(Prepared { template, template_file, values, secrets, output })
}

fn file_name(path: &Option<PathBuf>) -> String {
    path.as_ref().map(|p| p.display().to_string()).unwrap_or_default()
}

/// PATH is a template file, or a directory holding `template.yaml` (or `template.yml`).
fn template_file(path: &Path) -> Result<PathBuf, InputProblem> {
    let path = std::fs::canonicalize(path).map_err(|e| InputProblem(format!("{}: {e}", path.display())))?;
    if path.is_file() {
        return Ok(path);
    }
    for name in ["template.yaml", "template.yml"] {
        let candidate = path.join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(InputProblem(format!("{} holds no template.yaml; name the template file itself", path.display())))
}

/// A JSON or YAML file.
fn read_document(file: &Path) -> Result<Value, InputProblem> {
    let text =
        std::fs::read_to_string(file).map_err(|e| InputProblem(format!("cannot read {}: {e}", file.display())))?;
    if text.trim().is_empty() {
        return Ok(json!({}));
    }
    serde_norway::from_str(&text).map_err(|e| InputProblem(format!("{} is neither JSON nor YAML: {e}", file.display())))
}

/// One line per event: step status changes marked, log lines indented under their step.
fn print_event(event: &TaskEvent) {
    let body = &event.body;
    let message = body["message"].as_str().unwrap_or_default();
    let step = body["stepId"].as_str();
    let line = match (step, body["status"].as_str()) {
        (Some(step), Some("processing")) => format!("▶ [{step}] {message}"),
        (Some(step), Some("completed")) => format!("✔ [{step}] {message}"),
        (Some(step), Some("failed")) => format!("✖ [{step}] {message}"),
        (Some(step), Some("skipped")) => format!("○ [{step}] {message}"),
        (Some(step), _) => format!("  [{step}] {message}"),
        (None, _) => format!("  {message}"),
    };
    if std::io::stderr().is_terminal() {
        eprintln!("{line}");
    } else {
        eprintln!("{}", strip_ansi(&line));
    }
}

/// Log lines carry Backstage's colour codes (`\x1b[32minfo\x1b[39m`); files and CI logs get none.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `spec.output`: links and text, then anything else as JSON.
fn print_output(output: &Value) {
    let Some(map) = output.as_object().filter(|m| !m.is_empty()) else { return };
    eprintln!("Output:");
    for (key, value) in map {
        match (key.as_str(), value) {
            ("links", Value::Array(links)) => {
                for link in links {
                    let title = link["title"].as_str().unwrap_or("link");
                    let target = link["url"].as_str().or(link["entityRef"].as_str()).unwrap_or_default();
                    eprintln!("  {title}: {target}");
                }
            }
            ("text", Value::Array(texts)) => {
                for text in texts {
                    eprintln!(
                        "  {}: {}",
                        text["title"].as_str().unwrap_or("text"),
                        text["content"].as_str().unwrap_or_default()
                    );
                }
            }
            _ => eprintln!("  {key}: {value}"),
        }
    }
}

/// Writes the resulting files, keeping their execute bit.
fn write_tree(root: &Path, result: &DryRunResult) -> Result<(), String> {
    std::fs::create_dir_all(root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
    for file in &result.files {
        // Paths come from our own serialisation of the workspace: relative, without `..`.
        let relative = Path::new(&file.path);
        if relative.is_absolute() || relative.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
            return Err(format!("refusing to write {} outside {}", file.path, root.display()));
        }
        let target = root.join(relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&target, &file.content).map_err(|e| format!("cannot write {}: {e}", target.display()))?;
        if file.executable {
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| format!("cannot make {} executable: {e}", target.display()))?;
        }
    }
    Ok(())
}

/// Backstage's `POST /v2/dry-run` response body.
fn response_body(result: &DryRunResult) -> Value {
    let files: Vec<Value> = result
        .files
        .iter()
        .map(|f| {
            json!({
                "path": f.path,
                "executable": f.executable,
                "base64Content": base64::engine::general_purpose::STANDARD.encode(&f.content),
            })
        })
        .collect();
    json!({"log": result.log, "directoryContents": files, "output": result.output, "steps": result.steps})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_codes_are_stripped() {
        assert_eq!(strip_ansi("\x1b[32minfo\x1b[39m: hello"), "info: hello");
        assert_eq!(strip_ansi("plain [x] text"), "plain [x] text");
    }

    #[test]
    fn template_path_is_a_file_or_a_directory_with_template_yaml() {
        let dir = tempfile::tempdir().unwrap();
        assert!(template_file(dir.path()).is_err());
        std::fs::write(dir.path().join("template.yaml"), "kind: Template").unwrap();
        let found = template_file(dir.path()).unwrap();
        assert!(found.ends_with("template.yaml"));
        assert_eq!(template_file(&found).unwrap(), found);
        assert!(template_file(&dir.path().join("missing.yaml")).is_err());
    }
}
