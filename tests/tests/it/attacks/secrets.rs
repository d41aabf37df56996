//! Secrets (CVE-2026-32237, changelog `30ff981`, `84ebbb9`, `2eebeb7`, `be0a75a`): a secret
//! transformed by filters, methods and operators, iterated with `each`, written into outputs and
//! error messages, must not come back in a dry-run's log, output or error, nor in a task's
//! responses, events or stream; the server's own secrets are never available to a dry-run at all.

use serde_json::{Value, json};

use super::{ENV_SECRET, Setup, Target, template};

const TOKEN: &str = "Caller-Token-zq81XK";

/// Expressions over `{s}` (the secret) whose results must not leak.
const TRANSFORMS: &[&str] = &[
    "{s}",
    "{s} | upper",
    "{s} | lower",
    "{s} | title",
    "{s} | capitalize",
    "{s} | reverse",
    "{s} | replace('-', '_')",
    "{s} | urlencode",
    "{s} | escape",
    "{s} | dump",
    "{s} | list | join(' ')",
    "{s}.split('') | join('.')",
    "{s}.split('-') | join('+')",
    "{s}.slice(2, 14)",
    "{s}.substring(1)",
    "{s}.toUpperCase()",
    "{s}.padStart(30, '*')",
    "{s} + '!'",
    "'>' ~ {s}",
    "{s}.replaceAll('k', 'K')",
    "[{s}, 1] | dump",
];

/// What each transform yields for `secret`, as the service would compute it (enough of each to
/// recognise it in any answer).
fn leaked_forms(secret: &str) -> Vec<String> {
    let reversed: String = secret.chars().rev().collect();
    let spaced: Vec<String> = secret.chars().map(String::from).collect();
    vec![
        secret.to_owned(),
        secret.to_uppercase(),
        secret.to_lowercase(),
        reversed,
        secret.replace('-', "_"),
        spaced.join(" "),
        spaced.join("."),
        secret[2..14].to_owned(),
        secret[1..].to_owned(),
        secret.replace('k', "K"),
    ]
}

fn steps(secret: &str) -> Value {
    let mut steps: Vec<Value> = TRANSFORMS
        .iter()
        .enumerate()
        .map(|(i, expression)| {
            let expression = expression.replace("{s}", secret);
            json!({"id": format!("t{i}"), "name": format!("T{i}"), "action": "debug:log", "input": {"message": format!("value: ${{{{ {expression} }}}}")}})
        })
        .collect();
    steps.push(json!({
        "id": "each", "name": "Each", "action": "debug:log",
        "each": format!("${{{{ [{secret}, {secret} | upper, ({secret} or '-').split('-')] }}}}"),
        "input": {"message": "${{ each.value | dump }} at ${{ each.key }}"},
    }));
    steps.push(json!({
        "id": "files", "name": "Files", "action": "fetch:template",
        "input": {"url": "./skeleton", "values": {"token": format!("${{{{ {secret} | upper }}}}")}},
    }));
    steps.push(
        json!({"id": "list", "name": "List", "action": "debug:log", "input": {"listWorkspace": "with-contents"}}),
    );
    Value::Array(steps)
}

fn output(secret: &str) -> Value {
    json!({
        "text": [{"title": "t", "content": format!("${{{{ {secret} | upper }}}}")}],
        "links": [{"title": "l", "url": format!("https://example.test/${{{{ {secret} | urlencode }}}}")}],
    })
}

const SKELETON: &[(&str, &str)] = &[("skeleton/config.txt", "token=${{ values.token }}\n")];

fn assert_no_form_of(text: &str, secret: &str, what: &str) {
    for form in leaked_forms(secret) {
        assert!(!text.contains(&form), "{what} carries {form:?}:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_redacted_through_filters_each_outputs_and_errors_in_dry_runs() {
    let target = Target::start(Setup::default()).await;
    let template = template(steps("secrets.token"), output("secrets.token"));
    let reply = target.dry_run_template(template, SKELETON, json!({"token": TOKEN})).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let body = reply.json();
    let log = serde_json::to_string(&body["log"]).unwrap();
    assert_no_form_of(&log, TOKEN, "the log");
    assert!(log.contains("***"), "redactions are visible as such: {log}");
    assert_no_form_of(&body["output"].to_string(), TOKEN, "the output");
    assert_no_form_of(&body["steps"].to_string(), TOKEN, "the steps");
    // The caller's own secret may be written to files the caller asked for (as in Backstage);
    // the listing of those files in the log is redacted all the same.
    assert_eq!(reply.files()["config.txt"], format!("token={}\n", TOKEN.to_uppercase()).into_bytes());

    // An error message quoting the secret is redacted too.
    let failing = json!([{"id": "f", "name": "F", "action": "fetch:plain:file",
        "input": {"url": "./skeleton/config.txt", "targetPath": "../${{ secrets.token | upper }}/x"}}]);
    let reply = target.dry_run(failing, SKELETON, json!({"token": TOKEN})).await;
    reply.assert_refused(403, "NotAllowedError", "Relative path is not allowed");
    assert_no_form_of(&reply.text, TOKEN, "the error");
    target.assert_unharmed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_secrets_never_reach_a_dry_run() {
    let target = Target::start(Setup::default()).await;
    // Whatever a dry-run does with `environment.secrets`, nothing of the value comes back:
    // it is not there to be used.
    let template = template(steps("environment.secrets.serverToken"), output("environment.secrets.serverToken"));
    let reply = target.dry_run_template(template, SKELETON, Value::Null).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_no_form_of(&reply.text, ENV_SECRET, "the dry-run");
    assert_eq!(reply.files()["config.txt"], b"token=\n", "the file got nothing either");
    target.assert_unharmed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_come_back_from_task_responses_events_or_streams() {
    let task = |name: &str, secret: &str| {
        let mut template = template(steps(secret), output(secret));
        template["metadata"]["name"] = json!(name);
        serde_json::to_string(&template).unwrap()
    };
    let target = Target::start(Setup {
        catalog: Some(format!(
            "{}\n---\n{}\n",
            task("caller-secrets", "secrets.token"),
            task("server-secrets", "environment.secrets.serverToken")
        )),
        files: vec![("skeleton/config.txt".to_owned(), SKELETON[0].1.as_bytes().to_vec())],
        ..Setup::default()
    })
    .await;
    for (name, secret) in [("caller-secrets", TOKEN), ("server-secrets", ENV_SECRET)] {
        let id = target.create_task(name, json!({}), json!({"token": TOKEN})).await;
        let finished = target.wait_task(&id).await;
        assert_eq!(finished.status, "completed", "{name}: {}", finished.messages());
        let events = serde_json::to_string(&finished.events).unwrap();
        assert_no_form_of(&events, secret, &format!("{name}'s events"));
        assert!(events.contains("***"), "{name}: {events}");
        let task = target.get(&format!("/api/scaffolder/v2/tasks/{id}")).await;
        assert_no_form_of(&task.text, TOKEN, &format!("{name}'s task"));
        assert!(task.json().get("secrets").is_none(), "{}", task.text);
        let list = target.get("/api/scaffolder/v2/tasks").await;
        assert_no_form_of(&list.text, TOKEN, "the task list");
        let stream = target.get(&format!("/api/scaffolder/v2/tasks/{id}/eventstream")).await;
        assert_no_form_of(&stream.text, secret, &format!("{name}'s event stream"));
    }
    assert_no_form_of(&target.server.log(), TOKEN, "the server's log");
    target.assert_unharmed().await;
}
