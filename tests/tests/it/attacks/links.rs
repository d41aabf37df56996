//! Symbolic links (GHSA-rq6q-wr2q-7pgp, CVE-2026-24047): links in a skeleton that lead out of it
//! directly, through chains, or dangling; then links that only lead out once an earlier step has
//! moved them (`fs:rename` of a directory holding relative links), used by every action that
//! takes a path. Templates come from the catalog's `file` location, so the skeleton's links are
//! real links on disk, and each attack is a real task.

use serde_json::{Value, json};

use super::{Setup, Target};

/// Skeleton links: `(name, target)`; `{root}` is the scratch root.
const LINKS: &[(&str, &str)] = &[
    ("skeleton/secret-link", "{root}/outside/secret.txt"),
    ("skeleton/relative-escape", "../../outside/secret.txt"),
    ("skeleton/dir-link", "{root}/outside/empty"),
    ("skeleton/chain-a", "chain-b"),
    ("skeleton/chain-b", "{root}/outside"),
    ("skeleton/dangling", "{root}/outside/empty/created-through-a-link"),
    ("skeleton/dangling-chain", "dangling"),
    ("skeleton/inside-link", "ok.txt"),
    // Inside the skeleton where they are (three levels down, `../../..` is the skeleton), outside
    // the workspace once `d1/d2/d3` is moved to `d3`.
    ("skeleton/d1/d2/d3/up", "../../.."),
    ("skeleton/d1/d2/d3/chain-1", "chain-2"),
    ("skeleton/d1/d2/d3/chain-2", "../../.."),
    ("skeleton/d1/d2/d3/dangling-up", "../../../created-through-a-dangling-link"),
    // Inside where it is; rendered with `d: '.'` its name is `t/up`, three levels shallower.
    ("skeleton/t/${{ values.d }}/${{ values.d }}/${{ values.d }}/up", "../../.."),
];

/// Links that leave the skeleton where they are: skipped, with a warning naming each.
const ESCAPING: &[&str] =
    &["secret-link", "relative-escape", "dir-link", "chain-a", "chain-b", "dangling", "dangling-chain"];

fn template(name: &str, attack: &str) -> String {
    format!(
        "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata:\n  name: {name}\nspec:\n  type: service\n  steps:\n    \
         - {{id: fetch, name: Fetch, action: 'fetch:template', input: {{url: ./skeleton}}}}\n    \
         - {{id: plain, name: Plain, action: 'fetch:plain', input: {{url: ./skeleton, targetPath: plain}}}}\n    \
         - {{id: move, name: Move, action: 'fs:rename', input: {{files: [{{from: d1/d2/d3, to: d3}}]}}}}\n    \
         - {{id: attack, name: Attack, action: {attack}}}\n"
    )
}

/// `(template name, the attack step's action and input in YAML)`.
const ATTACKS: &[(&str, &str)] = &[
    ("list-contents", "'debug:log', input: {listWorkspace: with-contents}"),
    ("readdir-through-up", "'fs:readdir', input: {paths: [d3/up/outside], recursive: true}"),
    ("readdir-through-chain", "'fs:readdir', input: {paths: [d3/chain-1/outside]}"),
    ("delete-through-up", "'fs:delete', input: {files: [d3/up/outside/keep.txt]}"),
    ("delete-the-link-target", "'fs:delete', input: {files: [d3/up]}"),
    ("delete-glob-through-up", "'fs:delete', input: {files: ['d3/up/outside/*']}"),
    (
        "rename-out-through-chain",
        "'fs:rename', input: {files: [{from: d3/chain-1/outside/secret.txt, to: stolen.txt}]}",
    ),
    ("rename-in-through-up", "'fs:rename', input: {files: [{from: ok.txt, to: d3/up/outside/empty/pwned.txt}]}"),
    ("template-through-up", "'fetch:template', input: {url: ./skeleton, targetPath: d3/up/outside/empty}"),
    ("plain-file-through-dangling", "'fetch:plain:file', input: {url: ./skeleton/ok.txt, targetPath: d3/dangling-up}"),
    (
        "template-file-through-chain",
        "'fetch:template:file', input: {url: ./skeleton/ok.txt, targetPath: d3/chain-1/outside/empty/pwned.txt}",
    ),
    (
        "catalog-write-through-up",
        "'catalog:write', input: {filePath: d3/up/outside/empty/catalog-info.yaml, entity: {kind: Component}}",
    ),
    (
        "publish-from-up",
        "'publish:github', input: {repoUrl: 'github.test?owner=acme&repo=app', sourcePath: d3/up/outside}",
    ),
];

const SHALLOWER: &str = "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata:\n  name: shallower\nspec:\n  type: service\n  steps:\n    - {id: fetch, name: Fetch, action: 'fetch:template', input: {url: ./skeleton, values: {d: '.'}}}\n    - {id: attack, name: Attack, action: 'fs:readdir', input: {paths: [t/up/outside]}}\n";

async fn target() -> Target {
    let mut catalog: Vec<String> =
        vec![template("links", "'debug:log', input: {listWorkspace: true}"), SHALLOWER.to_owned()];
    catalog.extend(ATTACKS.iter().map(|(name, attack)| template(name, attack)));
    Target::start(Setup {
        catalog: Some(catalog.join("---\n")),
        files: vec![("skeleton/ok.txt".to_owned(), b"ok\n".to_vec())],
        links: LINKS.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect(),
        // `publish:github` needs an integration for the host; its source is refused before any call.
        github_api: Some("http://127.0.0.1:9".to_owned()),
        ..Setup::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_leading_out_of_a_skeleton_are_skipped() {
    let target = target().await;
    let finished = target.run_task("links", json!({}), Value::Null).await;
    assert_eq!(finished.status, "completed", "{}", finished.messages());
    let messages = finished.messages();
    for link in ESCAPING {
        assert!(
            messages.contains(&format!("Skipping the symbolic link {link}: it points outside the skeleton")),
            "fetch:template warns about {link}:\n{messages}"
        );
        assert!(
            messages.contains(&format!("Skipping the symbolic link {link}: it points outside the fetched directory")),
            "fetch:plain warns about {link}:\n{messages}"
        );
    }
    let listing = messages.split("Workspace:").nth(1).expect("the workspace listing");
    let listed: Vec<&str> = listing.lines().map(|line| line.trim().trim_start_matches("- ")).collect();
    for link in ESCAPING {
        assert!(!listed.iter().any(|p| p == link || p.ends_with(&format!("/{link}"))), "{link} copied:\n{listing}");
    }
    assert!(listed.contains(&"inside-link") && listed.contains(&"plain/inside-link"), "kept:\n{listing}");

    // A link whose rendered name is shallower than its place in the skeleton is not written.
    let finished = target.run_task("shallower", json!({}), Value::Null).await;
    let messages = finished.messages();
    assert!(
        messages.contains("Skipping the symbolic link t/${{ values.d }}/${{ values.d }}/${{ values.d }}/up: written as t/./././up it would point outside the target directory"),
        "{messages}"
    );
    let (name, message) = finished.error();
    assert_eq!((name.as_str(), message.starts_with("ENOENT")), ("Error", true), "{message}");
    target.assert_unharmed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_moved_out_of_reach_are_judged_by_where_they_lead() {
    let target = target().await;
    // All at once: the server runs four at a time.
    let mut ids = Vec::new();
    for (name, _) in ATTACKS {
        ids.push((*name, target.create_task(name, json!({}), Value::Null).await));
    }
    for (name, id) in ids {
        let finished = target.wait_task(&id).await;
        let messages = finished.messages();
        match name {
            // Listing reads no file through a link that leads out: such entries are skipped.
            "list-contents" => {
                assert_eq!(finished.status, "completed", "{messages}");
                assert!(messages.contains("d3/up: [skipped]"), "{messages}");
                assert!(messages.contains("d3/chain-1: [skipped]"), "{messages}");
            }
            _ => {
                let (error, message) = finished.error();
                assert_eq!(error, "NotAllowedError", "{name}: {message}\n{messages}");
                assert!(
                    message.starts_with("Relative path is not allowed to refer to a directory outside its parent: d3/"),
                    "{name}: {message}"
                );
            }
        }
        assert!(!messages.contains(super::SECRET), "{name}");
        target.assert_contained();
    }
    target.assert_unharmed().await;
}
