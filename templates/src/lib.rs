//! Templates, with no IO: what a `scaffolder.backstage.io/v1beta3` Template is, whether a
//! submission's values satisfy its parameters, what task spec it becomes, and how `${{ }}`
//! expressions render.
//!
//! Layout:
//! - `entity_ref`: Backstage entity references (`template:default/name`).
//! - `model`: parsing and validating a Template entity, collecting every problem at once.
//! - `params`: JSON Schema validation of form values, errors shaped like Backstage's.
//! - `spec`: the TaskSpec a submission becomes (what the API stores and the runner executes).
//! - `render`: the templating environment (minijinja with Backstage's `${{ }}` syntax).
//!
//! Invariant: nothing here reads the environment, the file system or the network; rendering can
//! only see the context it is given and is bounded in time and output.

mod entity_ref;
mod model;
mod params;
mod render;
mod spec;

pub use entity_ref::{EntityRef, EntityRefError, is_valid_entity_name};
pub use model::{Template, TemplateError, TemplateStep};
pub use params::{ParameterError, SchemaValidator, validate_values};
pub use render::{RenderContext, RenderError, Renderer};
pub use spec::{TaskSpec, TaskStep, UserInfo, build_task_spec};
