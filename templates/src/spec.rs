//! The TaskSpec a submission becomes: what the API stores, `GET /v2/tasks/:id` echoes, and the
//! runner executes. Built exactly as Backstage builds it, key order included, because clients
//! see it verbatim.

use serde_json::{Map, Value, json};

use crate::Template;

/// Who submitted the task.
#[derive(Clone, Debug, Default)]
pub struct UserInfo {
    /// The user's catalog entity, when known.
    pub entity: Option<Value>,
    /// The user's entity reference (`user:default/alice`).
    pub entity_ref: Option<String>,
}

/// A stored task spec. Unknown keys are kept, so a spec written by a newer version survives.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskSpec {
    raw: Map<String, Value>,
}

/// One normalised step: `id` and `name` always present.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskStep {
    raw: Map<String, Value>,
}

/// Builds the spec for a submission of `template` with `values`.
pub fn build_task_spec(
    template: &Template,
    template_ref: &str,
    base_url: Option<&str>,
    values: &Value,
    user: &UserInfo,
) -> TaskSpec {
    let spec = template.spec();
    let steps: Vec<Value> = template
        .steps()
        .iter()
        .enumerate()
        .map(|(index, step)| {
            // Like `{...step, id: step.id ?? ..., name: step.name ?? step.action}`: existing keys
            // keep their place, missing ones are appended.
            let mut raw = step.raw.clone();
            let id = raw
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| format!("step-{}", index + 1));
            let name =
                raw.get("name").and_then(Value::as_str).map(str::to_owned).unwrap_or_else(|| step.action().to_owned());
            raw.insert("id".to_owned(), Value::String(id));
            raw.insert("name".to_owned(), Value::String(name));
            Value::Object(raw)
        })
        .collect();
    let mut raw = Map::new();
    raw.insert("apiVersion".to_owned(), template.raw()["apiVersion"].clone());
    raw.insert("steps".to_owned(), Value::Array(steps));
    if let Some(recovery) = spec.get("EXPERIMENTAL_recovery") {
        raw.insert("EXPERIMENTAL_recovery".to_owned(), recovery.clone());
    }
    // Extension: steps run as a graph (DESIGN.md §5).
    if let Some(parallel) = spec.get("EXPERIMENTAL_parallelSteps") {
        raw.insert("EXPERIMENTAL_parallelSteps".to_owned(), parallel.clone());
    }
    raw.insert("output".to_owned(), spec.get("output").cloned().unwrap_or_else(|| json!({})));
    raw.insert("parameters".to_owned(), values.clone());
    let mut user_value = Map::new();
    if let Some(entity) = &user.entity {
        user_value.insert("entity".to_owned(), entity.clone());
    }
    if let Some(entity_ref) = &user.entity_ref {
        user_value.insert("ref".to_owned(), Value::String(entity_ref.clone()));
    }
    raw.insert("user".to_owned(), Value::Object(user_value));
    let mut template_info = Map::new();
    template_info.insert("entityRef".to_owned(), Value::String(template_ref.to_owned()));
    if let Some(base_url) = base_url {
        template_info.insert("baseUrl".to_owned(), Value::String(base_url.to_owned()));
    }
    template_info.insert("entity".to_owned(), json!({"metadata": template.metadata()}));
    raw.insert("templateInfo".to_owned(), Value::Object(template_info));
    TaskSpec { raw }
}

impl TaskSpec {
    /// Reads a stored spec, checking the parts the runner relies on.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| format!("task spec is not valid JSON: {e}"))?;
        Self::from_value(value)
    }

    pub fn from_value(value: Value) -> Result<Self, String> {
        let Value::Object(raw) = value else {
            return Err("task spec must be an object".to_owned());
        };
        let Some(Value::Array(steps)) = raw.get("steps") else {
            return Err("task spec has no steps array".to_owned());
        };
        for (i, step) in steps.iter().enumerate() {
            let valid = step.get("id").is_some_and(Value::is_string)
                && step.get("name").is_some_and(Value::is_string)
                && step.get("action").is_some_and(Value::is_string);
            if !valid {
                return Err(format!("task spec step {i} needs string id, name and action"));
            }
        }
        Ok(TaskSpec { raw })
    }

    pub fn to_json(&self) -> String {
        Value::Object(self.raw.clone()).to_string()
    }

    pub fn as_value(&self) -> Value {
        Value::Object(self.raw.clone())
    }

    pub fn api_version(&self) -> &str {
        self.raw.get("apiVersion").and_then(Value::as_str).unwrap_or_default()
    }

    pub fn steps(&self) -> Vec<TaskStep> {
        self.raw["steps"]
            .as_array()
            .map(|steps| steps.iter().filter_map(|s| s.as_object().cloned()).map(|raw| TaskStep { raw }).collect())
            .unwrap_or_default()
    }

    pub fn output(&self) -> Value {
        self.raw.get("output").cloned().unwrap_or_else(|| json!({}))
    }

    pub fn parameters(&self) -> Value {
        self.raw.get("parameters").cloned().unwrap_or_else(|| json!({}))
    }

    pub fn user(&self) -> Value {
        self.raw.get("user").cloned().unwrap_or_else(|| json!({}))
    }

    pub fn template_info(&self) -> Option<&Value> {
        self.raw.get("templateInfo")
    }

    /// `EXPERIMENTAL_recovery.EXPERIMENTAL_strategy`, `none` when absent.
    /// Whether steps run as a graph: `EXPERIMENTAL_parallelSteps: true`, or any `dependsOn`.
    pub fn runs_as_graph(&self) -> bool {
        self.raw.get("EXPERIMENTAL_parallelSteps") == Some(&Value::Bool(true))
            || self.steps().iter().any(|step| step.get("dependsOn").is_some())
    }

    pub fn recover_strategy(&self) -> &str {
        self.raw
            .get("EXPERIMENTAL_recovery")
            .and_then(|r| r.get("EXPERIMENTAL_strategy"))
            .and_then(Value::as_str)
            .unwrap_or("none")
    }

    /// Whether clients should expect the task to resume after a recovery (Backstage's
    /// `isTaskRecoverable`).
    pub fn is_recoverable(&self) -> bool {
        self.recover_strategy() == "startOver"
    }
}

impl TaskStep {
    pub fn id(&self) -> &str {
        self.raw["id"].as_str().unwrap_or_default()
    }

    pub fn name(&self) -> &str {
        self.raw["name"].as_str().unwrap_or_default()
    }

    pub fn action(&self) -> &str {
        self.raw["action"].as_str().unwrap_or_default()
    }

    pub fn input(&self) -> Option<&Value> {
        self.raw.get("input")
    }

    /// The raw `if`: a boolean or an expression string.
    pub fn condition(&self) -> Option<&Value> {
        self.raw.get("if")
    }

    /// `dependsOn` (extension): ids of steps this one waits for.
    pub fn depends_on(&self) -> Vec<&str> {
        self.raw
            .get("dependsOn")
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    /// `timeout` (extension): how long the step may run.
    pub fn timeout(&self) -> Option<std::time::Duration> {
        self.raw.get("timeout").and_then(|t| crate::duration::parse(t).ok())
    }

    /// The whole step as written (for finding `steps.X` references).
    pub fn raw(&self) -> &Map<String, Value> {
        &self.raw
    }

    pub fn each(&self) -> Option<&Value> {
        self.raw.get("each")
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.raw.get(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_spec_backstage_builds() {
        let template = Template::from_yaml(
            "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata: {name: bench, title: Bench}\nspec:\n  type: service\n  steps:\n    - {id: fetch, name: Fetch, action: 'fetch:template', input: {url: ./skeleton}}\n    - action: debug:log\n      input: {message: hi}\n  output: {text: [{title: Result, content: done}]}\n",
        )
        .unwrap();
        let spec = build_task_spec(
            &template,
            "template:default/bench",
            Some("file:///t/template.yaml"),
            &json!({"name": "alpha"}),
            &UserInfo::default(),
        );
        assert_eq!(
            spec.to_json(),
            r#"{"apiVersion":"scaffolder.backstage.io/v1beta3","steps":[{"id":"fetch","name":"Fetch","action":"fetch:template","input":{"url":"./skeleton"}},{"action":"debug:log","input":{"message":"hi"},"id":"step-2","name":"debug:log"}],"output":{"text":[{"title":"Result","content":"done"}]},"parameters":{"name":"alpha"},"user":{},"templateInfo":{"entityRef":"template:default/bench","baseUrl":"file:///t/template.yaml","entity":{"metadata":{"name":"bench","title":"Bench"}}}}"#
        );
        let reread = TaskSpec::from_json(&spec.to_json()).unwrap();
        assert_eq!(reread.steps()[1].id(), "step-2");
        assert_eq!(reread.recover_strategy(), "none");
    }

    #[test]
    fn rejects_specs_the_runner_cannot_run() {
        assert!(TaskSpec::from_json("[]").is_err());
        assert!(TaskSpec::from_json(r#"{"steps":[{"id":"a"}]}"#).is_err());
        assert!(TaskSpec::from_json("not json").is_err());
    }
}
