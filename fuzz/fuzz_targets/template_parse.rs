//! A Template document as the catalog or `scaffolder dry-run` would read it: any text must give a
//! template or an error, never a panic. A template that is accepted must stay valid through a
//! JSON round trip, give a task spec that reads back, and compile its parameter schemas.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use templates::{TaskSpec, Template, UserInfo, build_task_spec, validate_values};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(template) = Template::from_yaml(text) else { return };

    // Everything `from_value` promised.
    let _ = (template.name(), template.namespace(), template.metadata(), template.secrets_schema());
    for step in template.steps() {
        assert!(!step.action().is_empty());
    }

    // What the API stores is JSON: the same document must be the same template.
    let stored = serde_json::to_string(template.raw()).expect("a template serialises");
    // (Not compared for equality: serde_json may read a float back one unit in the last place off.)
    let reread: Value = serde_json::from_str(&stored).expect("serialised JSON parses");
    let again = Template::from_value(reread).expect("a valid template stays valid after a JSON round trip");
    assert_eq!(again.steps().len(), template.steps().len());

    // The task spec a submission becomes, read back as the runner reads it.
    let user = UserInfo { entity: None, entity_ref: Some("user:default/fuzz".to_owned()) };
    let spec = build_task_spec(&template, "template:default/fuzz", Some("file:///fuzz"), &json!({"name": "x"}), &user);
    let spec = TaskSpec::from_json(&spec.to_json()).expect("a built task spec reads back");
    let steps = spec.steps();
    assert_eq!(steps.len(), template.steps().len());
    for step in &steps {
        let _ = (step.id(), step.name(), step.action(), step.input(), step.condition(), step.each());
        let _ = (step.depends_on(), step.timeout());
    }
    let _ = (spec.runs_as_graph(), spec.is_recoverable(), spec.recover_strategy(), spec.output());

    // Submissions are validated against every parameter page.
    let pages = template.parameter_pages();
    let _ = validate_values(&pages, &json!({}));
    let _ = validate_values(&pages, &json!({"name": "x", "count": 3, "tags": ["a"], "nested": {"a": null}}));
});
