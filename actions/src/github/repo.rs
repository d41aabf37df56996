//! Creating, configuring, pushing to and protecting a repository, as Backstage's GitHub module
//! does, made safe to retry: each side effect is recorded as a checkpoint right after it
//! happens, and an intent is recorded right before, so that a retry after a crash in between can
//! tell "my own earlier attempt did this" from "someone else's repository".

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::client::{GithubClient, Reply};
use super::git::{Author, Push};
use super::{Credentials, parse_rfc3339, unix_now};
use crate::action::{ActionContext, StepError};

/// The repository a `repoUrl` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub host: String,
    pub owner: String,
    pub repo: String,
}

impl Target {
    pub fn parse(repo_url: &str, integrations: &[templates::Integration]) -> Result<Target, StepError> {
        let parsed = templates::parse_repo_url(repo_url, integrations)
            .map_err(|e| StepError::input(e.detail().map(str::to_owned).unwrap_or_else(|| e.to_string())))?;
        let field = |name: &str| parsed.get(name).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
        let host = field("host").unwrap_or_default();
        let repo = field("repo").ok_or_else(|| {
            StepError::input(format!("Invalid repo URL passed to publisher: {repo_url}, missing repo"))
        })?;
        let owner = field("owner").ok_or_else(|| StepError::input("Invalid repository owner provided in repoUrl"))?;
        for (name, value) in [("owner", &owner), ("repo", &repo)] {
            if !value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                || value == "."
                || value == ".."
            {
                return Err(StepError::input(format!(
                    "Invalid {name} '{value}' in repoUrl: GitHub names use letters, digits, '-', '_' and '.'"
                )));
            }
        }
        Ok(Target { host, owner, repo })
    }

    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.repo)
    }
}

/// How a new repository is set up (`publish:github`, `github:repo:create`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RepoSettings {
    pub description: Option<String>,
    pub homepage: Option<String>,
    pub access: Option<String>,
    pub repo_visibility: Option<String>,
    pub delete_branch_on_merge: Option<bool>,
    pub allow_merge_commit: Option<bool>,
    pub allow_squash_merge: Option<bool>,
    pub squash_merge_commit_title: Option<String>,
    pub squash_merge_commit_message: Option<String>,
    pub allow_rebase_merge: Option<bool>,
    pub allow_auto_merge: Option<bool>,
    pub allow_update_branch: Option<bool>,
    pub collaborators: Option<Vec<Collaborator>>,
    pub has_projects: Option<bool>,
    pub has_wiki: Option<bool>,
    pub has_issues: Option<bool>,
    pub topics: Option<Vec<String>>,
    pub repo_variables: Option<BTreeMap<String, String>>,
    pub secrets: Option<BTreeMap<String, String>>,
    pub oidc_customization: Option<OidcCustomization>,
    pub custom_properties: Option<Map<String, Value>>,
    pub subscribe: Option<bool>,
    pub auto_init: Option<bool>,
    pub workflow_access: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Collaborator {
    pub access: String,
    pub user: Option<String>,
    pub team: Option<String>,
    /// Deprecated in Backstage in favour of `team`.
    pub username: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OidcCustomization {
    #[serde(default = "yes")]
    pub use_default: bool,
    pub include_claim_keys: Option<Vec<String>>,
}

fn yes() -> bool {
    true
}

/// Default-branch protection (`publish:github`, `github:repo:push`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Protection {
    pub protect_default_branch: Option<bool>,
    pub protect_enforce_admins: Option<bool>,
    pub require_code_owner_reviews: Option<bool>,
    pub dismiss_stale_reviews: Option<bool>,
    pub bypass_pull_request_allowances: Option<Value>,
    pub required_approving_review_count: Option<u32>,
    pub restrictions: Option<Value>,
    pub required_status_check_contexts: Option<Vec<String>>,
    pub require_branches_to_be_up_to_date: Option<bool>,
    pub required_conversation_resolution: Option<bool>,
    pub require_last_push_approval: Option<bool>,
    pub required_commit_signing: Option<bool>,
    pub required_linear_history: Option<bool>,
}

/// What is pushed, and as whom.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PushSettings {
    pub default_branch: Option<String>,
    pub git_commit_message: Option<String>,
    pub git_author_name: Option<String>,
    pub git_author_email: Option<String>,
    pub source_path: Option<String>,
}

/// `scaffolder.defaultAuthor` and `scaffolder.defaultCommitMessage`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GitDefaults {
    pub author_name: Option<String>,
    pub author_email: Option<String>,
    pub commit_message: Option<String>,
}

impl GitDefaults {
    /// The step's commit message, else `scaffolder.defaultCommitMessage`, else `fallback`.
    pub(crate) fn commit_message(&self, input: Option<&str>, fallback: &str) -> String {
        input.or(self.commit_message.as_deref()).unwrap_or(fallback).to_owned()
    }

    /// Input, else configuration, else Backstage's fallbacks.
    pub(crate) fn author(&self, name: Option<&str>, email: Option<&str>) -> Author {
        let pick = |input: Option<&str>, config: &Option<String>, fallback: &str| {
            input
                .filter(|s| !s.is_empty())
                .or(config.as_deref().filter(|s| !s.is_empty()))
                .unwrap_or(fallback)
                .to_owned()
        };
        Author {
            name: pick(name, &self.author_name, "Scaffolder"),
            email: pick(email, &self.author_email, "scaffolder@backstage.io"),
        }
    }
}

/// What later steps need of a repository.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RepoLinks {
    pub clone_url: String,
    pub html_url: String,
}

impl RepoLinks {
    fn from_json(repository: &Value) -> Result<RepoLinks, StepError> {
        let field = |name: &str| {
            repository[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| StepError::error(format!("GitHub's answer about the repository has no {name}")))
        };
        Ok(RepoLinks { clone_url: field("clone_url")?, html_url: field("html_url")? })
    }
}

/// Creates and sets up the repository, once per task: a retry continues with the repository its
/// own earlier attempt created, and refuses one that somebody else owns.
pub(crate) async fn ensure_repository(
    ctx: &ActionContext<'_>,
    client: &GithubClient,
    target: &Target,
    settings: &RepoSettings,
    checkpoint: &str,
) -> Result<RepoLinks, StepError> {
    if let Some(recorded) = ctx.checkpoint_value(checkpoint).await
        && let Ok(links) = serde_json::from_value::<RepoLinks>(recorded)
    {
        ctx.info(&format!("Repository {} was created by an earlier attempt of this task", target.full_name()));
        return Ok(links);
    }
    let intent = format!("{checkpoint}.started");
    let earlier = ctx.checkpoint_value(&intent).await.and_then(|v| v["at"].as_u64());
    if earlier.is_none() {
        ctx.set_checkpoint(&intent, json!({"at": unix_now()})).await?;
    }
    ctx.check_stop()?;
    let owner = client
        .get(&format!("/users/{}", target.owner))
        .await?
        .into_result(&format!("Looking up the GitHub account {}", target.owner))?;
    let owner_type = owner["type"].as_str().unwrap_or("User").to_owned();
    if let Some(access) = &settings.access
        && let Some(team) = access.strip_prefix(&format!("{}/", target.owner))
    {
        let found = client.get(&format!("/orgs/{}/teams/{team}", target.owner)).await?;
        if found.status == 404 {
            return Err(StepError::not_found(format!(
                "Received 'Not Found' from the API; one of org: {} or team: {team} was not found within GitHub.",
                target.owner
            )));
        }
    }
    let created = create(client, target, settings, &owner_type).await?;
    let repository = match created {
        Created::New(repository) => {
            ctx.info(&format!("Created the {owner_type} repository {}", target.full_name()));
            repository
        }
        Created::AlreadyExists(reply) => {
            let existing = client
                .get(&format!("/repos/{}", target.full_name()))
                .await?
                .into_result(&format!("Reading the existing repository {}", target.full_name()))?;
            let created_at = existing["created_at"].as_str().and_then(parse_rfc3339).unwrap_or(0);
            let empty = existing["size"].as_u64() == Some(0);
            match earlier {
                // Our earlier attempt created it and stopped before recording so.
                Some(started) if created_at + 300 >= started && empty => {
                    ctx.info(&format!(
                        "Continuing with repository {}, which an earlier attempt of this task created",
                        target.full_name()
                    ));
                    existing
                }
                _ => {
                    return Err(StepError::new(
                        "ConflictError",
                        format!(
                            "Repository {} already exists on {} and was not created by this task; it was left untouched. Choose another name ({})",
                            target.full_name(),
                            target.host,
                            reply.message()
                        ),
                    ));
                }
            }
        }
    };
    configure(ctx, client, target, settings).await?;
    let links = RepoLinks::from_json(&repository)?;
    ctx.set_checkpoint(checkpoint, serde_json::to_value(&links).map_err(|e| StepError::error(e.to_string()))?).await?;
    Ok(links)
}

enum Created {
    New(Value),
    AlreadyExists(Reply),
}

async fn create(
    client: &GithubClient,
    target: &Target,
    settings: &RepoSettings,
    owner_type: &str,
) -> Result<Created, StepError> {
    let visibility = settings.repo_visibility.as_deref().unwrap_or("private");
    let mut body = json!({
        "name": target.repo,
        "private": visibility == "private",
        "allow_auto_merge": settings.allow_auto_merge.unwrap_or(false),
        "allow_merge_commit": settings.allow_merge_commit.unwrap_or(true),
        "allow_rebase_merge": settings.allow_rebase_merge.unwrap_or(true),
        "allow_squash_merge": settings.allow_squash_merge.unwrap_or(true),
        "allow_update_branch": settings.allow_update_branch.unwrap_or(false),
        "delete_branch_on_merge": settings.delete_branch_on_merge.unwrap_or(false),
        "squash_merge_commit_title": settings.squash_merge_commit_title.as_deref().unwrap_or("COMMIT_OR_PR_TITLE"),
        "squash_merge_commit_message": settings.squash_merge_commit_message.as_deref().unwrap_or("COMMIT_MESSAGES"),
    });
    let object = body.as_object_mut().expect("an object");
    for (key, value) in [
        ("description", settings.description.clone().map(Value::String)),
        ("homepage", settings.homepage.clone().map(Value::String)),
        ("has_issues", settings.has_issues.map(Value::Bool)),
        ("has_projects", settings.has_projects.map(Value::Bool)),
        ("has_wiki", settings.has_wiki.map(Value::Bool)),
        ("auto_init", settings.auto_init.map(Value::Bool)),
    ] {
        if let Some(value) = value {
            object.insert(key.to_owned(), value);
        }
    }
    let path = if owner_type == "Organization" {
        object.insert("visibility".to_owned(), json!(visibility));
        if let Some(properties) = &settings.custom_properties {
            object.insert("custom_properties".to_owned(), Value::Object(properties.clone()));
        }
        format!("/orgs/{}/repos", target.owner)
    } else {
        "/user/repos".to_owned()
    };
    let reply = client.post(&path, &body).await?;
    if reply.is_success() {
        return Ok(Created::New(reply.body));
    }
    if reply.status == 422 && reply.message().contains("already exists") {
        return Ok(Created::AlreadyExists(reply));
    }
    let mut error = reply.error(&format!("Failed to create the {owner_type} repository {}", target.full_name()));
    if reply.message().contains("Resource not accessible by integration") {
        error.message.push_str(" (the GitHub App or token may not have permission to create repositories there)");
    }
    Err(error)
}

/// Access, collaborators, topics, variables, secrets, OIDC, subscription, workflow access. Every
/// call is idempotent, so a retry may repeat it.
async fn configure(
    ctx: &ActionContext<'_>,
    client: &GithubClient,
    target: &Target,
    settings: &RepoSettings,
) -> Result<(), StepError> {
    let repo_path = format!("/repos/{}", target.full_name());
    if let Some(access) = &settings.access {
        if let Some(team) = access.strip_prefix(&format!("{}/", target.owner)) {
            client
                .put(
                    &format!("/orgs/{}/teams/{team}/repos/{}", target.owner, target.full_name()),
                    &json!({"permission": "admin"}),
                )
                .await?
                .into_result(&format!("Giving team {access} admin access to {}", target.full_name()))?;
        } else if access != &target.owner {
            client
                .put(&format!("{repo_path}/collaborators/{access}"), &json!({"permission": "admin"}))
                .await?
                .into_result(&format!("Giving {access} admin access to {}", target.full_name()))?;
        }
    }
    for collaborator in settings.collaborators.iter().flatten() {
        let (path, name) = if let Some(user) = &collaborator.user {
            (format!("{repo_path}/collaborators/{}", entity_ref_to_name(user)), user)
        } else if let Some(team) = collaborator.team.as_ref().or(collaborator.username.as_ref()) {
            (format!("/orgs/{}/teams/{}/repos/{}", target.owner, entity_ref_to_name(team), target.full_name()), team)
        } else {
            continue;
        };
        let reply = client.put(&path, &json!({"permission": collaborator.access})).await?;
        if !reply.is_success() {
            ctx.warn(&format!("Skipping {} access for {name}, {}", collaborator.access, reply.message()));
        }
    }
    if let Some(topics) = &settings.topics {
        let names: Vec<String> = topics.iter().map(|t| t.to_lowercase()).collect();
        let reply = client.put(&format!("{repo_path}/topics"), &json!({"names": names})).await?;
        if !reply.is_success() {
            ctx.warn(&format!("Skipping topics {}, {}", topics.join(" "), reply.message()));
        }
    }
    for (name, value) in settings.repo_variables.iter().flatten() {
        let reply =
            client.post(&format!("{repo_path}/actions/variables"), &json!({"name": name, "value": value})).await?;
        if reply.status == 409 {
            // Set by an earlier attempt: update it.
            client
                .patch(&format!("{repo_path}/actions/variables/{name}"), &json!({"name": name, "value": value}))
                .await?
                .into_result(&format!("Updating the variable {name} of {}", target.full_name()))?;
        } else {
            reply.into_result(&format!("Creating the variable {name} of {}", target.full_name()))?;
        }
    }
    if let Some(secrets) = settings.secrets.as_ref().filter(|s| !s.is_empty()) {
        let key = client
            .get(&format!("{repo_path}/actions/secrets/public-key"))
            .await?
            .into_result(&format!("Reading the Actions public key of {}", target.full_name()))?;
        let key_id = key["key_id"].as_str().unwrap_or_default().to_owned();
        let public_key = sealed_box_key(key["key"].as_str().unwrap_or_default())?;
        for (name, value) in secrets {
            let encrypted = seal(&public_key, value.as_bytes())?;
            client
                .put(
                    &format!("{repo_path}/actions/secrets/{name}"),
                    &json!({"encrypted_value": encrypted, "key_id": key_id}),
                )
                .await?
                .into_result(&format!("Setting the secret {name} of {}", target.full_name()))?;
        }
    }
    if let Some(oidc) = &settings.oidc_customization {
        let mut body = json!({"use_default": oidc.use_default});
        if let Some(keys) = &oidc.include_claim_keys {
            body["include_claim_keys"] = json!(keys);
        }
        client
            .put(&format!("{repo_path}/actions/oidc/customization/sub"), &body)
            .await?
            .into_result(&format!("Setting the OIDC subject template of {}", target.full_name()))?;
    }
    if settings.subscribe == Some(true) {
        client
            .put(&format!("{repo_path}/subscription"), &json!({"subscribed": true, "ignored": false}))
            .await?
            .into_result(&format!("Subscribing to {}", target.full_name()))?;
    }
    if let Some(level) = &settings.workflow_access {
        client
            .put(&format!("{repo_path}/actions/permissions/access"), &json!({"access_level": level}))
            .await?
            .into_result(&format!("Setting workflow access of {}", target.full_name()))?;
    }
    Ok(())
}

/// Backstage's `entityRefToName`: what follows the last `:` or `/`.
fn entity_ref_to_name(name: &str) -> &str {
    name.rsplit([':', '/']).next().unwrap_or(name)
}

fn sealed_box_key(base64_key: &str) -> Result<crypto_box::PublicKey, StepError> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(base64_key)
        .map_err(|e| StepError::error(format!("GitHub's Actions public key is not base64: {e}")))?;
    let bytes: [u8; 32] =
        bytes.try_into().map_err(|_| StepError::error("GitHub's Actions public key is not 32 bytes long"))?;
    Ok(crypto_box::PublicKey::from(bytes))
}

/// libsodium's `crypto_box_seal`, base64: what GitHub expects for an Actions secret.
fn seal(key: &crypto_box::PublicKey, plain: &[u8]) -> Result<String, StepError> {
    use base64::Engine;
    let sealed = key
        .seal(&mut crypto_box::aead::OsRng, plain)
        .map_err(|_| StepError::error("Could not encrypt a repository secret"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(sealed))
}

/// Commits `source` and pushes it as `branch`, once per task: a retry after a push that went
/// through but was not recorded takes the branch GitHub already has.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn push_once(
    ctx: &ActionContext<'_>,
    client: &GithubClient,
    credentials: &Credentials,
    target: &Target,
    links: &RepoLinks,
    source: std::path::PathBuf,
    branch: &str,
    author: Author,
    message: &str,
    checkpoint: &str,
) -> Result<String, StepError> {
    if let Some(hash) = ctx.checkpoint_value(checkpoint).await.and_then(|v| v["commitHash"].as_str().map(str::to_owned))
    {
        return Ok(hash);
    }
    let intent = format!("{checkpoint}.started");
    if ctx.checkpoint_value(&intent).await.is_some() {
        let existing = client.get(&format!("/repos/{}/git/ref/heads/{branch}", target.full_name())).await?;
        if existing.is_success()
            && let Some(sha) = existing.body["object"]["sha"].as_str()
        {
            ctx.info(&format!(
                "Branch {branch} of {} was pushed by an earlier attempt of this task ({sha})",
                target.full_name()
            ));
            ctx.set_checkpoint(checkpoint, json!({"commitHash": sha})).await?;
            return Ok(sha.to_owned());
        }
    } else {
        ctx.set_checkpoint(&intent, json!({"at": unix_now()})).await?;
    }
    check_clone_url(&links.clone_url, credentials)?;
    ctx.check_stop()?;
    let scratch = ctx.temporary_directory()?;
    let remote = links.clone_url.clone();
    let token = credentials.token.expose().to_owned();
    let branch_name = branch.to_owned();
    let message = message.to_owned();
    let hash = tokio::task::spawn_blocking(move || {
        let push = Push {
            source: &source,
            remote_url: &remote,
            branch: &branch_name,
            token: &token,
            author: &author,
            message: &message,
        };
        super::git::commit_and_push(&push, scratch.path())
    })
    .await
    .map_err(|e| StepError::error(format!("The git push stopped unexpectedly: {e}")))??;
    ctx.info(&format!("Pushed branch {branch} to {} ({hash})", target.full_name()));
    ctx.set_checkpoint(checkpoint, json!({"commitHash": hash})).await?;
    Ok(hash)
}

/// The token goes only to the GitHub host it belongs to, and over HTTPS unless the API itself is
/// plain HTTP (a test server or an internal Enterprise instance).
fn check_clone_url(clone_url: &str, credentials: &Credentials) -> Result<(), StepError> {
    let host_of = |url: &str| {
        url.split_once("://")
            .map(|(_, rest)| rest.split(['/', '?']).next().unwrap_or_default())
            .map(|authority| authority.rsplit('@').next().unwrap_or(authority))
            .map(|host| host.split(':').next().unwrap_or(host).to_lowercase())
    };
    let scheme_ok = clone_url.starts_with("https://")
        || (clone_url.starts_with("http://") && credentials.api_base_url.starts_with("http://"));
    let clone_host = host_of(clone_url);
    let integration_host = credentials.host.split(':').next().unwrap_or_default().to_lowercase();
    let host_ok =
        clone_host.as_deref() == Some(integration_host.as_str()) || clone_host == host_of(&credentials.api_base_url);
    if scheme_ok && host_ok {
        Ok(())
    } else {
        Err(StepError::not_allowed(format!(
            "Refusing to push to {clone_url}: the token for {} is only sent over HTTPS to that host",
            credentials.host
        )))
    }
}

/// Branch protection, as Backstage sets it; failures are warnings, never fatal.
/// What `publish:github` and `github:repo:push` do once the repository exists: push `source`
/// once (checkpointed under `checkpoint`) as the configured author, then protect `branch`.
/// Returns the commit hash.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn push_and_protect(
    ctx: &ActionContext<'_>,
    client: &GithubClient,
    credentials: &Credentials,
    target: &Target,
    links: &RepoLinks,
    source: std::path::PathBuf,
    branch: &str,
    push: &PushSettings,
    protection: &Protection,
    defaults: &GitDefaults,
    checkpoint: &str,
) -> Result<String, StepError> {
    let author = defaults.author(push.git_author_name.as_deref(), push.git_author_email.as_deref());
    let message = defaults.commit_message(push.git_commit_message.as_deref(), "initial commit");
    let hash = push_once(ctx, client, credentials, target, links, source, branch, author, &message, checkpoint).await?;
    protect(ctx, client, target, branch, protection).await;
    Ok(hash)
}

pub(crate) async fn protect(
    ctx: &ActionContext<'_>,
    client: &GithubClient,
    target: &Target,
    branch: &str,
    protection: &Protection,
) {
    if protection.protect_default_branch == Some(false) {
        return;
    }
    let mut reviews = json!({
        "required_approving_review_count": protection.required_approving_review_count.unwrap_or(1),
        "require_code_owner_reviews": protection.require_code_owner_reviews.unwrap_or(false),
        "dismiss_stale_reviews": protection.dismiss_stale_reviews.unwrap_or(false),
        "require_last_push_approval": protection.require_last_push_approval.unwrap_or(false),
    });
    if let Some(bypass) = &protection.bypass_pull_request_allowances {
        reviews["bypass_pull_request_allowances"] = bypass.clone();
    }
    let body = json!({
        "required_status_checks": {
            "strict": protection.require_branches_to_be_up_to_date.unwrap_or(true),
            "contexts": protection.required_status_check_contexts.clone().unwrap_or_default(),
        },
        "restrictions": protection.restrictions.clone().unwrap_or(Value::Null),
        "enforce_admins": protection.protect_enforce_admins.unwrap_or(true),
        "required_pull_request_reviews": reviews,
        "required_conversation_resolution": protection.required_conversation_resolution.unwrap_or(false),
        "required_linear_history": protection.required_linear_history.unwrap_or(false),
        "block_creations": false,
    });
    let path = format!("/repos/{}/branches/{branch}/protection", target.full_name());
    let mut outcome = client.put(&path, &body).await;
    // GitHub is eventually consistent: a branch pushed a moment ago may not be found yet.
    if matches!(&outcome, Ok(reply) if reply.status == 404 && reply.message().contains("Branch not found")) {
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        outcome = client.put(&path, &body).await;
    }
    let result = match outcome {
        Ok(reply) if reply.is_success() => {
            if protection.required_commit_signing == Some(true) {
                client
                    .post(&format!("{path}/required_signatures"), &json!({}))
                    .await
                    .and_then(|r| r.into_result("Requiring signed commits").map(|_| ()))
            } else {
                Ok(())
            }
        }
        Ok(reply) if reply.message().contains("Upgrade to GitHub Pro or make this repository public") => {
            ctx.warn("Branch protection was not enabled as it requires GitHub Pro for private repositories");
            return;
        }
        Ok(reply) => Err(reply.error(&format!("Protecting branch {branch}"))),
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => ctx.info(&format!("Protected branch {branch} of {}", target.full_name())),
        Err(error) => ctx.warn(&format!("Skipping: default branch protection on '{}', {}", target.repo, error.message)),
    }
}

/// Where a repository's files come from: `sourcePath` inside the workspace (Backstage strips
/// leading `../`), else the whole workspace.
pub(crate) fn source_directory(
    ctx: &ActionContext<'_>,
    source_path: Option<&str>,
) -> Result<std::path::PathBuf, StepError> {
    match source_path {
        None | Some("") => Ok(ctx.workspace.root().to_path_buf()),
        Some(path) => {
            let mut trimmed = path;
            while let Some(rest) = trimmed.strip_prefix("../") {
                trimmed = rest;
            }
            let resolved = ctx.workspace.resolve(trimmed)?;
            if !resolved.is_dir() {
                return Err(StepError::input(format!("sourcePath {path} is not a directory in the workspace")));
            }
            Ok(resolved)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_from_repo_urls() {
        let integrations = templates::Integration::defaults();
        let target = Target::parse("github.com?owner=acme&repo=app", &integrations).unwrap();
        assert_eq!(target, Target { host: "github.com".into(), owner: "acme".into(), repo: "app".into() });
        assert_eq!(
            Target::parse("github.com?repo=app", &integrations).unwrap_err().message,
            "Invalid repo URL passed to publisher: https://github.com?repo=app, missing owner"
        );
        assert!(Target::parse("github.com?owner=acme&repo=../x", &integrations).is_err());
        assert!(Target::parse("github.com?owner=a%2Fb&repo=x", &integrations).is_err());
    }

    #[test]
    fn tokens_only_travel_to_their_host_over_https() {
        let credentials = Credentials {
            host: "github.com".into(),
            api_base_url: "https://api.github.com".into(),
            token: super::super::Secret::new("t"),
            kind: "token",
        };
        assert!(check_clone_url("https://github.com/acme/app.git", &credentials).is_ok());
        assert!(check_clone_url("http://github.com/acme/app.git", &credentials).is_err());
        assert!(check_clone_url("https://evil.example/acme/app.git", &credentials).is_err());
        assert!(check_clone_url("https://github.com.evil.example/x.git", &credentials).is_err());
        let local =
            Credentials { host: "github.test".into(), api_base_url: "http://127.0.0.1:9999".into(), ..credentials };
        assert!(check_clone_url("http://127.0.0.1:8888/acme/app.git", &local).is_ok());
    }

    #[test]
    fn authors_fall_back_like_backstage() {
        let defaults = GitDefaults { author_name: Some("Bot".into()), author_email: None, commit_message: None };
        let author = defaults.author(None, None);
        assert_eq!((author.name.as_str(), author.email.as_str()), ("Bot", "scaffolder@backstage.io"));
        let author = defaults.author(Some("Ann"), Some("ann@example.com"));
        assert_eq!((author.name.as_str(), author.email.as_str()), ("Ann", "ann@example.com"));
        assert_eq!(entity_ref_to_name("group:default/team-a"), "team-a");
        assert_eq!(entity_ref_to_name("alice"), "alice");
    }
}
