//! Templates, with no IO: what a `scaffolder.backstage.io/v1beta3` Template is, whether a
//! submission's values satisfy its parameters, what task spec it becomes, and how `${{ }}`
//! expressions render.
//!
//! Layout:
//! - `entity_ref`: Backstage entity references (`template:default/name`).
//! - `model`: parsing and validating a Template entity, collecting every problem at once.
//! - `params`: JSON Schema validation of form values, errors shaped like Backstage's.
//! - `spec`: the TaskSpec a submission becomes (what the API stores and the runner executes).
//! - `render`: the templating environment (`budget`: how much one render may build); `nunjucks` translates Backstage's Nunjucks dialect to
//!   minijinja; `js` is JavaScript's value semantics; `runtime`, `filters`, `checks`, `methods`
//!   and `backstage` are what templates can call.
//!
//! Invariant: nothing here reads the environment, the file system or the network; rendering can
//! only see the context it is given and is bounded in steps, nesting and output.

mod backstage;
mod budget;
mod checks;
pub mod duration;
mod entity_ref;
mod filters;
pub mod js;
mod methods;
mod model;
mod nunjucks;
mod params;
mod render;
mod runtime;
mod spec;

pub use backstage::{Integration, parse_repo_url};
pub use budget::RenderBudget;
pub use entity_ref::{EntityRef, EntityRefError, is_valid_entity_name};
pub use model::{Template, TemplateError, TemplateStep, find_cycle};
pub use params::{ParameterError, SchemaValidator, validate_values};
pub use render::{DEFAULT_MAX_OUTPUT, RenderContext, RenderError, RenderOptions, RenderProblem, Renderer};
pub use spec::{TaskSpec, TaskStep, UserInfo, build_task_spec};

/// Every filter and global a template can use, with a description and an example (served by
/// `GET /v2/templating-extensions`).
pub fn templating_extensions() -> serde_json::Value {
    let mut filters = serde_json::Map::new();
    // Backstage's own four filters, described as Backstage describes them (with schemas).
    for (name, metadata) in backstage::metadata() {
        filters.insert(name.to_owned(), metadata);
    }
    for (name, description, example) in filters::DESCRIPTIONS {
        filters.insert(
            (*name).to_owned(),
            serde_json::json!({"description": description, "examples": [{"example": example}]}),
        );
    }
    serde_json::json!({
        "filters": filters,
        "globals": {
            "functions": {
                "range": {
                    "description": "A list of numbers: range(stop) or range(start, stop, step).",
                    "examples": [{"example": "{% for i in range(3) %}${{ i }}{% endfor %} → 012"}]
                },
                "always": {
                    "description": "In a step's `if`: true, and the step runs even after an earlier step failed.",
                    "examples": [{"example": "- id: cleanup\n  if: ${{ always() }}\n  action: debug:log"}]
                },
                "failure": {
                    "description": "In a step's `if`: true only when an earlier step failed; the step then runs despite the failure.",
                    "examples": [{"example": "- id: notify\n  if: ${{ failure() }}\n  action: debug:log"}]
                }
            },
            "values": {}
        }
    })
}
