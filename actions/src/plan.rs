//! The step planner: what each step waits for.
//!
//! By default every step waits for the one before it (spec order, exactly as Backstage). A task
//! whose template opts into a graph (`EXPERIMENTAL_parallelSteps: true`, or any `dependsOn`) has
//! each step wait for:
//! - the steps named in its `dependsOn`;
//! - the steps whose outputs it reads (`steps.X` or `steps['X']` anywhere in the step);
//! - steps whose workspace access conflicts with its own (either writes) and that come first in
//!   spec order, or that the two lists above place first: a step never reads files another is
//!   still writing.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;
use templates::TaskStep;

use crate::action::{StepError, WorkspaceAccess};
use crate::registry::Registry;

/// `steps.id`, `steps['id']`, `steps["id"]`.
static STEP_REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\bsteps\s*(?:\.\s*([A-Za-z_$][\w$]*)|\[\s*(?:'([^']*)'|"([^"]*)")\s*\])"#).expect("valid pattern")
});

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    /// `waits_for[i]`: indices of the steps step `i` starts after.
    pub waits_for: Vec<Vec<usize>>,
    pub graph: bool,
}

pub(crate) fn plan(steps: &[TaskStep], graph: bool, registry: &Registry) -> Result<Plan, StepError> {
    if !graph {
        let waits_for = (0..steps.len()).map(|i| if i == 0 { Vec::new() } else { vec![i - 1] }).collect();
        return Ok(Plan { waits_for, graph });
    }
    let index_of = |id: &str| steps.iter().position(|s| s.id() == id);
    let access: Vec<WorkspaceAccess> = steps
        .iter()
        .map(|s| registry.get(s.action()).map_or(WorkspaceAccess::Write, |a| a.workspace_access()))
        .collect();
    // What the template says: `dependsOn` and output references.
    let mut waits_for: Vec<BTreeSet<usize>> = Vec::with_capacity(steps.len());
    for (i, step) in steps.iter().enumerate() {
        let mut before = BTreeSet::new();
        for id in step.depends_on() {
            let j = index_of(id).ok_or_else(|| {
                StepError::input(format!(
                    "Step {} depends on {id}, but the template has no step with that id",
                    step.id()
                ))
            })?;
            before.insert(j);
        }
        for id in referenced_steps(step) {
            if let Some(j) = index_of(&id).filter(|&j| j != i) {
                before.insert(j);
            }
        }
        before.remove(&i);
        waits_for.push(before);
    }
    let lists: Vec<Vec<usize>> = waits_for.iter().map(|set| set.iter().copied().collect()).collect();
    if let Some(cycle) = templates::find_cycle(&lists) {
        let ids: Vec<&str> = cycle.iter().map(|&i| steps[i].id()).collect();
        return Err(StepError::input(format!(
            "The steps cannot be ordered: {} wait for each other (through dependsOn or steps.* references)",
            ids.join(" → ")
        )));
    }
    // Conflicting workspace access: the step that comes first in an order consistent with the
    // above (spec order where the template leaves it open) goes first, so no cycle can arise.
    let position = order(&lists);
    for i in 0..steps.len() {
        for j in 0..steps.len() {
            if position[j] < position[i] && access[j].conflicts_with(access[i]) {
                waits_for[i].insert(j);
            }
        }
    }
    let waits_for = waits_for.into_iter().map(|set| set.into_iter().collect()).collect();
    Ok(Plan { waits_for, graph })
}

/// Each step's position in a topological order of `waits_for` that prefers spec order.
fn order(waits_for: &[Vec<usize>]) -> Vec<usize> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let n = waits_for.len();
    let mut remaining: Vec<usize> = waits_for.iter().map(Vec::len).collect();
    let mut unblocks: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, before) in waits_for.iter().enumerate() {
        for &j in before {
            unblocks[j].push(i);
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> = (0..n).filter(|&i| remaining[i] == 0).map(Reverse).collect();
    let mut position = vec![usize::MAX; n];
    let mut next = 0;
    while let Some(Reverse(i)) = ready.pop() {
        position[i] = next;
        next += 1;
        for &k in &unblocks[i] {
            remaining[k] -= 1;
            if remaining[k] == 0 {
                ready.push(Reverse(k));
            }
        }
    }
    position
}

/// Ids of steps whose outputs `step` reads, anywhere in its `if`, `each` or `input`.
fn referenced_steps(step: &TaskStep) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (key, value) in step.raw() {
        if !matches!(key.as_str(), "id" | "name" | "action" | "dependsOn" | "timeout") {
            collect(value, &mut found);
        }
    }
    found
}

fn collect(value: &Value, found: &mut BTreeSet<String>) {
    match value {
        Value::String(text) => {
            for captures in STEP_REFERENCE.captures_iter(text) {
                if let Some(id) = captures.get(1).or(captures.get(2)).or(captures.get(3)) {
                    found.insert(id.as_str().to_owned());
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect(item, found)),
        Value::Object(map) => map.iter().for_each(|(key, item)| {
            collect(&Value::String(key.clone()), found);
            collect(item, found);
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use templates::TaskSpec;

    use super::*;
    use crate::registry::RegistryConfig;

    fn steps(value: Value) -> Vec<TaskStep> {
        TaskSpec::from_value(json!({"steps": value})).unwrap().steps()
    }

    #[test]
    fn in_order_by_default() {
        let registry = Registry::builtin(&RegistryConfig::default());
        let s = steps(json!([
            {"id": "a", "name": "a", "action": "debug:wait"},
            {"id": "b", "name": "b", "action": "debug:wait"},
            {"id": "c", "name": "c", "action": "debug:wait"},
        ]));
        assert_eq!(plan(&s, false, &registry).unwrap().waits_for, vec![vec![], vec![0], vec![1]]);
    }

    #[test]
    fn graph_from_dependencies_references_and_access() {
        let registry = Registry::builtin(&RegistryConfig::default());
        let s = steps(json!([
            {"id": "fetch", "name": "f", "action": "fetch:plain", "input": {"url": "./x"}},
            {"id": "wait", "name": "w", "action": "debug:wait"},
            {"id": "list", "name": "l", "action": "fs:readdir", "input": {"paths": ["."]}},
            {"id": "log", "name": "g", "action": "debug:log", "input": {"message": "${{ steps['list'].output.files | length }}"}},
            {"id": "late", "name": "z", "action": "debug:wait", "dependsOn": ["wait"], "if": "${{ steps.log.output }}"},
        ]));
        let plan = plan(&s, true, &registry).unwrap();
        assert_eq!(
            plan.waits_for,
            vec![
                vec![],     // fetch writes
                vec![],     // debug:wait touches no files
                vec![0],    // readdir reads what fetch writes
                vec![0, 2], // log reads the workspace and the list's output
                vec![1, 3], // dependsOn and a reference in `if`
            ]
        );
    }

    #[test]
    fn reference_cycles_are_refused_with_their_path() {
        let registry = Registry::builtin(&RegistryConfig::default());
        let s = steps(json!([
            {"id": "a", "name": "a", "action": "debug:wait", "input": {"x": "${{ steps.b.output }}"}},
            {"id": "b", "name": "b", "action": "debug:wait", "input": {"x": "${{ steps.a.output }}"}},
        ]));
        let error = plan(&s, true, &registry).unwrap_err();
        assert!(error.message.contains("a → b → a"), "{}", error.message);
    }

    #[test]
    fn a_dependency_on_a_later_step_turns_the_access_order_around() {
        let registry = Registry::builtin(&RegistryConfig::default());
        let s = steps(json!([
            {"id": "fetch", "name": "f", "action": "fetch:plain", "input": {"url": "./x"}, "dependsOn": ["log"]},
            {"id": "log", "name": "g", "action": "debug:log", "input": {"message": "hi"}},
        ]));
        assert_eq!(plan(&s, true, &registry).unwrap().waits_for, vec![vec![1], vec![]]);
    }

    #[test]
    fn access_conflicts() {
        use WorkspaceAccess::*;
        assert!(Write.conflicts_with(Read) && Read.conflicts_with(Write) && Write.conflicts_with(Write));
        assert!(!Read.conflicts_with(Read) && !None.conflicts_with(Write) && !Write.conflicts_with(None));
    }
}
