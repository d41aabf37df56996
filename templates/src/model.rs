//! The Template entity (`scaffolder.backstage.io/v1beta3`, `kind: Template`), checked up front so
//! that every problem is reported at once rather than discovered step by step.

use serde_json::{Map, Value};
use thiserror::Error;

use crate::is_valid_entity_name;

pub const API_VERSION: &str = "scaffolder.backstage.io/v1beta3";

#[derive(Clone, Debug, Error, PartialEq)]
pub enum TemplateError {
    /// The document is not a Template at all (another kind, or not an object).
    #[error("Input template is not a template")]
    NotATemplate,
    /// Backstage's wording for a Template of another version.
    #[error("Unsupported apiVersion field in schema entity, {0}")]
    UnsupportedApiVersion(String),
    /// Every structural problem found, each naming the field.
    #[error("Invalid template: {}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error("Invalid template YAML: {0}")]
    Yaml(String),
}

/// A validated Template. The original document is kept verbatim, because Backstage echoes parts of
/// it back unchanged (the task spec, the parameter schema).
#[derive(Clone, Debug)]
pub struct Template {
    raw: Value,
}

/// A step as written in the template (`id` and `name` may be missing).
#[derive(Clone, Debug)]
pub struct TemplateStep<'a> {
    pub raw: &'a Map<String, Value>,
}

impl Template {
    /// Parses one YAML (or JSON) document.
    pub fn from_yaml(text: &str) -> Result<Self, TemplateError> {
        let value: Value = serde_norway::from_str(text).map_err(|e| TemplateError::Yaml(e.to_string()))?;
        Self::from_value(value)
    }

    pub fn from_value(raw: Value) -> Result<Self, TemplateError> {
        let Some(entity) = raw.as_object() else {
            return Err(TemplateError::NotATemplate);
        };
        if !entity.get("kind").and_then(Value::as_str).is_some_and(|k| k.eq_ignore_ascii_case("template")) {
            return Err(TemplateError::NotATemplate);
        }
        match entity.get("apiVersion").and_then(Value::as_str) {
            Some(API_VERSION) => {}
            Some(other) => return Err(TemplateError::UnsupportedApiVersion(other.to_owned())),
            None => return Err(TemplateError::UnsupportedApiVersion("undefined".to_owned())),
        }
        let mut problems = Vec::new();
        match entity.get("metadata") {
            Some(Value::Object(metadata)) => match metadata.get("name") {
                Some(Value::String(name)) if is_valid_entity_name(name) => {}
                Some(Value::String(name)) => problems.push(format!(
                    "metadata.name \"{name}\" must be 1-63 characters of [a-zA-Z0-9], separated by [-_.]"
                )),
                _ => problems.push("metadata.name is required and must be a string".to_owned()),
            },
            _ => problems.push("metadata is required and must be an object".to_owned()),
        }
        match entity.get("spec") {
            Some(Value::Object(spec)) => check_spec(spec, &mut problems),
            _ => problems.push("spec is required and must be an object".to_owned()),
        }
        if problems.is_empty() { Ok(Template { raw }) } else { Err(TemplateError::Invalid(problems)) }
    }

    pub fn raw(&self) -> &Value {
        &self.raw
    }

    pub fn metadata(&self) -> &Value {
        &self.raw["metadata"]
    }

    pub fn name(&self) -> &str {
        self.raw["metadata"]["name"].as_str().unwrap_or_default()
    }

    pub fn namespace(&self) -> &str {
        self.raw["metadata"]["namespace"].as_str().unwrap_or("default")
    }

    pub fn spec(&self) -> &Map<String, Value> {
        self.raw["spec"].as_object().expect("validated in from_value")
    }

    /// The parameter pages: `spec.parameters` may be one object or a list of them.
    pub fn parameter_pages(&self) -> Vec<&Value> {
        match self.spec().get("parameters") {
            Some(Value::Array(pages)) => pages.iter().collect(),
            Some(page @ Value::Object(_)) => vec![page],
            _ => Vec::new(),
        }
    }

    pub fn steps(&self) -> Vec<TemplateStep<'_>> {
        self.spec()["steps"]
            .as_array()
            .expect("validated in from_value")
            .iter()
            .map(|step| TemplateStep { raw: step.as_object().expect("validated in from_value") })
            .collect()
    }

    /// `spec.secrets.schema`, when the template declares one.
    pub fn secrets_schema(&self) -> Option<&Value> {
        self.spec().get("secrets").and_then(|s| s.get("schema"))
    }
}

impl TemplateStep<'_> {
    pub fn action(&self) -> &str {
        self.raw["action"].as_str().expect("validated in from_value")
    }
}

/// `dependsOn` (extension): a list of ids of other steps, without cycles.
fn check_dependencies(steps: &[Value], problems: &mut Vec<String>) {
    let ids: Vec<String> = steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            step.get("id").and_then(Value::as_str).map_or_else(|| format!("step-{}", i + 1), str::to_owned)
        })
        .collect();
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
    for (i, step) in steps.iter().enumerate() {
        let Some(depends) = step.get("dependsOn") else { continue };
        let Some(list) = depends.as_array().filter(|l| l.iter().all(Value::is_string)) else {
            problems.push(format!("spec.steps[{i}].dependsOn must be a list of step ids"));
            continue;
        };
        for id in list.iter().filter_map(Value::as_str) {
            match ids.iter().position(|known| known == id) {
                Some(j) if j == i => {
                    problems.push(format!("spec.steps[{i}].dependsOn: step {id} cannot depend on itself"))
                }
                Some(j) => edges[i].push(j),
                None => problems.push(format!("spec.steps[{i}].dependsOn: there is no step with id {id}")),
            }
        }
    }
    if let Some(cycle) = find_cycle(&edges) {
        let names: Vec<&str> = cycle.iter().map(|&i| ids[i].as_str()).collect();
        problems.push(format!("spec.steps: dependsOn forms a cycle: {}", names.join(" → ")));
    }
}

/// A cycle in a dependency graph (`edges[i]` = what `i` waits for), as the nodes along it.
pub fn find_cycle(edges: &[Vec<usize>]) -> Option<Vec<usize>> {
    // 0 = unvisited, 1 = on the current path, 2 = done.
    let mut mark = vec![0u8; edges.len()];
    let mut path = Vec::new();
    fn visit(node: usize, edges: &[Vec<usize>], mark: &mut [u8], path: &mut Vec<usize>) -> Option<Vec<usize>> {
        mark[node] = 1;
        path.push(node);
        for &next in &edges[node] {
            if mark[next] == 1 {
                let start = path.iter().position(|&n| n == next).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(next);
                return Some(cycle);
            }
            if mark[next] == 0
                && let Some(cycle) = visit(next, edges, mark, path)
            {
                return Some(cycle);
            }
        }
        path.pop();
        mark[node] = 2;
        None
    }
    (0..edges.len()).find_map(|node| if mark[node] == 0 { visit(node, edges, &mut mark, &mut path) } else { None })
}

fn check_spec(spec: &Map<String, Value>, problems: &mut Vec<String>) {
    match spec.get("type") {
        Some(Value::String(t)) if !t.is_empty() => {}
        _ => problems.push("spec.type is required and must be a non-empty string".to_owned()),
    }
    match spec.get("parameters") {
        None | Some(Value::Object(_)) => {}
        Some(Value::Array(pages)) => {
            for (i, page) in pages.iter().enumerate() {
                if !page.is_object() {
                    problems.push(format!("spec.parameters[{i}] must be an object"));
                }
            }
        }
        Some(_) => problems.push("spec.parameters must be an object or an array of objects".to_owned()),
    }
    match spec.get("steps") {
        Some(Value::Array(steps)) => {
            let mut ids: Vec<&str> = Vec::new();
            for (i, step) in steps.iter().enumerate() {
                let Some(step) = step.as_object() else {
                    problems.push(format!("spec.steps[{i}] must be an object"));
                    continue;
                };
                match step.get("action") {
                    Some(Value::String(action)) if !action.is_empty() => {}
                    _ => problems.push(format!("spec.steps[{i}].action is required and must be a string")),
                }
                match step.get("id") {
                    None => {}
                    Some(Value::String(id)) => {
                        if ids.contains(&id.as_str()) {
                            problems.push(format!("spec.steps[{i}].id \"{id}\" is used by an earlier step"));
                        }
                        ids.push(id);
                    }
                    Some(_) => problems.push(format!("spec.steps[{i}].id must be a string")),
                }
                if let Some(name) = step.get("name")
                    && !name.is_string()
                {
                    problems.push(format!("spec.steps[{i}].name must be a string"));
                }
                if let Some(input) = step.get("input")
                    && !input.is_object()
                {
                    problems.push(format!("spec.steps[{i}].input must be an object"));
                }
                if let Some(condition) = step.get("if")
                    && !(condition.is_string() || condition.is_boolean())
                {
                    problems.push(format!("spec.steps[{i}].if must be a string or a boolean"));
                }
                if let Some(timeout) = step.get("timeout")
                    && let Err(reason) = crate::duration::parse(timeout)
                {
                    problems.push(format!("spec.steps[{i}].timeout: {reason}"));
                }
            }
            check_dependencies(steps, problems);
        }
        _ => problems.push("spec.steps is required and must be an array".to_owned()),
    }
    if let Some(parallel) = spec.get("EXPERIMENTAL_parallelSteps")
        && !parallel.is_boolean()
    {
        problems.push("spec.EXPERIMENTAL_parallelSteps must be true or false".to_owned());
    }
    if let Some(output) = spec.get("output")
        && !output.is_object()
    {
        problems.push("spec.output must be an object".to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: { name: hello }
spec:
  type: service
  parameters: { properties: { name: { type: string } } }
  steps:
    - { id: log, action: debug:log, input: { message: hi } }
"#;

    #[test]
    fn accepts_a_minimal_template() {
        let template = Template::from_yaml(GOOD).unwrap();
        assert_eq!(template.name(), "hello");
        assert_eq!(template.namespace(), "default");
        assert_eq!(template.parameter_pages().len(), 1);
        assert_eq!(template.steps()[0].action(), "debug:log");
    }

    #[test]
    fn reports_every_problem_at_once() {
        let err = Template::from_yaml(
            "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata: {name: 'bad name'}\nspec:\n  steps: [{id: a}, {id: a, action: x, input: 3}]\n",
        )
        .unwrap_err();
        let TemplateError::Invalid(problems) = err else { panic!("{err:?}") };
        assert_eq!(problems.len(), 5, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("metadata.name")));
        assert!(problems.iter().any(|p| p.contains("spec.type")));
        assert!(problems.iter().any(|p| p.contains("spec.steps[0].action")));
        assert!(problems.iter().any(|p| p.contains("spec.steps[1].id")));
        assert!(problems.iter().any(|p| p.contains("spec.steps[1].input")));
    }

    #[test]
    fn tells_other_kinds_and_versions_apart() {
        assert_eq!(
            Template::from_yaml("kind: Component\napiVersion: backstage.io/v1alpha1").unwrap_err(),
            TemplateError::NotATemplate
        );
        assert_eq!(
            Template::from_yaml("kind: Template\napiVersion: backstage.io/v1beta2").unwrap_err(),
            TemplateError::UnsupportedApiVersion("backstage.io/v1beta2".to_owned())
        );
        assert!(matches!(Template::from_yaml("kind: [").unwrap_err(), TemplateError::Yaml(_)));
    }
}

#[cfg(test)]
mod graph_tests {
    use super::*;

    fn problems(steps: &str) -> Vec<String> {
        let text = format!(
            "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata: {{name: g}}\nspec:\n  type: t\n  steps: {steps}\n"
        );
        match Template::from_yaml(&text) {
            Ok(_) => Vec::new(),
            Err(TemplateError::Invalid(problems)) => problems,
            Err(other) => panic!("{other}"),
        }
    }

    #[test]
    fn depends_on_and_timeout_are_checked() {
        assert!(problems("[{id: a, action: x}, {id: b, action: x, dependsOn: [a], timeout: {minutes: 2}}]").is_empty());
        // Steps without ids are step-N.
        assert!(problems("[{action: x}, {action: x, dependsOn: [step-1]}]").is_empty());
        let cases = [
            ("[{id: a, action: x, dependsOn: [nope]}]", "there is no step with id nope"),
            ("[{id: a, action: x, dependsOn: [a]}]", "cannot depend on itself"),
            ("[{id: a, action: x, dependsOn: b}]", "dependsOn must be a list of step ids"),
            (
                "[{id: a, action: x, dependsOn: [c]}, {id: b, action: x, dependsOn: [a]}, {id: c, action: x, dependsOn: [b]}]",
                "dependsOn forms a cycle: a → c → b → a",
            ),
            ("[{id: a, action: x, timeout: soon}]", "spec.steps[0].timeout"),
        ];
        for (steps, wanted) in cases {
            let found = problems(steps);
            assert!(found.iter().any(|p| p.contains(wanted)), "{steps}: {found:?}");
        }
    }

    #[test]
    fn cycles_are_found_with_their_path() {
        assert_eq!(find_cycle(&[vec![], vec![0], vec![1]]), None);
        assert_eq!(find_cycle(&[vec![1], vec![0]]), Some(vec![0, 1, 0]));
        assert_eq!(find_cycle(&[vec![], vec![2], vec![1]]), Some(vec![1, 2, 1]));
    }
}
