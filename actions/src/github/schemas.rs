//! The JSON Schemas of the GitHub actions' inputs and outputs, property by property, as
//! Backstage's GitHub module publishes them (`GET /v2/actions`). The actions read their input
//! into typed structs; `tests::every_property_is_read` keeps the two in step.

use serde_json::{Map, Value, json};

fn string(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

fn boolean(description: &str) -> Value {
    json!({"type": "boolean", "description": description})
}

fn boolean_default(default: bool, description: &str) -> Value {
    json!({"type": "boolean", "default": default, "description": description})
}

fn strings(description: &str) -> Value {
    json!({"type": "array", "items": {"type": "string"}, "description": description})
}

/// One input property by its name, as Backstage's `inputProperties.ts` defines it.
pub(crate) fn property(name: &str) -> Value {
    match name {
        "repoUrl" => string(
            "Accepts the format `github.com?repo=reponame&owner=owner` where `reponame` is the new repository name and `owner` is an organization or username",
        ),
        "description" => string("Repository Description"),
        "homepage" => string("Repository Homepage"),
        "access" => string(
            "Sets an admin collaborator on the repository. Can either be a user reference different from `owner` in `repoUrl` or team reference, eg. `org/team-name`",
        ),
        "requireCodeOwnerReviews" => {
            boolean("Require an approved review in PR including files with a designated Code Owner")
        }
        "dismissStaleReviews" => {
            boolean("New reviewable commits pushed to a matching branch will dismiss pull request review approvals.")
        }
        "requiredStatusCheckContexts" => {
            strings("The list of status checks to require in order to merge into this branch")
        }
        "requireBranchesToBeUpToDate" => {
            boolean_default(true, "Require branches to be up to date before merging. The default value is `true`")
        }
        "requiredConversationResolution" => boolean(
            "Requires all conversations on code to be resolved before a pull request can be merged into this branch",
        ),
        "requireLastPushApproval" => boolean_default(
            false,
            "Whether the most recent push to a PR must be approved by someone other than the person who pushed it. The default value is `false`",
        ),
        "repoVisibility" => {
            json!({"type": "string", "enum": ["private", "public", "internal"], "description": "Repository Visibility"})
        }
        "deleteBranchOnMerge" => {
            boolean_default(false, "Delete the branch after merging the PR. The default value is `false`")
        }
        "gitAuthorName" => {
            json!({"type": "string", "default": "Scaffolder", "description": "Sets the default author name for the commit. The default value is `Scaffolder`"})
        }
        "gitAuthorEmail" => string("Sets the default author email for the commit."),
        "allowMergeCommit" => boolean_default(true, "Allow merge commits. The default value is `true`"),
        "allowSquashMerge" => boolean_default(true, "Allow squash merges. The default value is `true`"),
        "allowUpdateBranch" => boolean_default(false, "Allow branch to be updated. The default value is `false`"),
        "squashMergeCommitTitle" => {
            json!({"type": "string", "enum": ["PR_TITLE", "COMMIT_OR_PR_TITLE"], "default": "COMMIT_OR_PR_TITLE", "description": "Sets the default value for a squash merge commit title. The default value is `COMMIT_OR_PR_TITLE`"})
        }
        "squashMergeCommitMessage" => {
            json!({"type": "string", "enum": ["PR_BODY", "COMMIT_MESSAGES", "BLANK"], "default": "COMMIT_MESSAGES", "description": "Sets the default value for a squash merge commit message. The default value is `COMMIT_MESSAGES`"})
        }
        "allowRebaseMerge" => boolean_default(true, "Allow rebase merges. The default value is `true`"),
        "allowAutoMerge" => boolean_default(
            false,
            "Allow individual PRs to merge automatically when all merge requirements are met. The default value is `false`",
        ),
        "collaborators" => json!({
            "type": "array",
            "items": {"anyOf": [
                {"type": "object", "properties": {
                    "access": {"type": "string", "description": "The type of access for the user"},
                    "user": {"type": "string", "description": "The name of the user that will be added as a collaborator"}
                }, "required": ["access", "user"], "additionalProperties": false},
                {"type": "object", "properties": {
                    "access": {"type": "string", "description": "The type of access for the team"},
                    "team": {"type": "string", "description": "The name of the team that will be added as a collaborator"}
                }, "required": ["access", "team"], "additionalProperties": false}
            ]},
            "description": "Provide additional users or teams with permissions"
        }),
        "hasProjects" => boolean(
            "Enable projects for the repository. The default value is `true` unless the organization has disabled repository projects",
        ),
        "hasWiki" => boolean_default(true, "Enable the wiki for the repository. The default value is `true`"),
        "hasIssues" => boolean_default(true, "Enable issues for the repository. The default value is `true`"),
        "token" => string("The token to use for authorization to GitHub"),
        "topics" => strings("Adds topics to the repository"),
        "defaultBranch" => {
            json!({"type": "string", "default": "master", "description": "Sets the default branch on the repository. The default value is 'master'"})
        }
        "protectDefaultBranch" => boolean_default(
            true,
            "Protect the default branch after creating the repository. The default value is `true`",
        ),
        "protectEnforceAdmins" => {
            boolean_default(true, "Enforce admins to adhere to default branch protection. The default value is `true`")
        }
        "bypassPullRequestAllowances" => json!({
            "type": "object",
            "properties": {
                "apps": {"type": "array", "items": {"type": "string"}},
                "users": {"type": "array", "items": {"type": "string"}},
                "teams": {"type": "array", "items": {"type": "string"}}
            },
            "additionalProperties": false,
            "description": "Allow specific users, teams, or apps to bypass pull request requirements."
        }),
        "gitCommitMessage" => {
            json!({"type": "string", "default": "initial commit", "description": "Sets the commit message on the repository. The default value is `initial commit`"})
        }
        "sourcePath" => string(
            "Path within the workspace that will be used as the repository root. If omitted, the entire workspace will be published as the repository.",
        ),
        "requiredApprovingReviewCount" => {
            json!({"type": "number", "description": "Specify the number of reviewers required to approve pull requests. Use a number between `1` and `6` or `0` to not require reviewers. Defaults to `1`."})
        }
        "restrictions" => json!({
            "type": "object",
            "properties": {
                "apps": {"type": "array", "items": {"type": "string"}},
                "users": {"type": "array", "items": {"type": "string"}},
                "teams": {"type": "array", "items": {"type": "string"}}
            },
            "required": ["users", "teams"],
            "additionalProperties": false,
            "description": "Restrict who can push to the protected branch. User, app, and team restrictions are only available for organization-owned repositories."
        }),
        "requiredCommitSigning" => boolean("Require commit signing so that you must sign commits on this branch."),
        "requiredLinearHistory" => boolean("Prevent merge commits from being pushed to matching branches."),
        "repoVariables" => {
            json!({"type": "object", "additionalProperties": {"type": "string"}, "description": "Variables attached to the repository"})
        }
        "secrets" => {
            json!({"type": "object", "additionalProperties": {"type": "string"}, "description": "Secrets attached to the repository"})
        }
        "oidcCustomization" => json!({
            "type": "object",
            "properties": {
                "useDefault": {"type": "boolean", "default": true, "description": "Whether to use the default template or not. If true, includeClaimKeys must not be set."},
                "includeClaimKeys": {"type": "array", "items": {"type": "string"}, "description": "Array of unique strings. Each claim key can only contain alphanumeric characters and underscores."}
            },
            "additionalProperties": false,
            "description": "OIDC customization template attached to the repository."
        }),
        "customProperties" => json!({
            "type": "object",
            "additionalProperties": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "description": "Custom properties to be added to the repository (note, this only works for organization repositories). All values must be strings"
        }),
        "subscribe" => boolean("Subscribe to the repository. The default value is 'false'"),
        "autoInit" => boolean_default(false, "Create an initial commit with empty README. Default is 'false'"),
        "workflowAccess" => {
            json!({"type": "string", "enum": ["none", "organization", "user"], "description": "Level of access for workflows outside of the repository. Default is \"none\"."})
        }
        other => panic!("no schema for input property {other}"),
    }
}

/// An object schema of the named properties, as zod-to-json-schema writes it.
pub(crate) fn object(properties: &[&str], required: &[&str]) -> Value {
    let map: Map<String, Value> = properties.iter().map(|name| ((*name).to_owned(), property(name))).collect();
    with_properties(map, required)
}

pub(crate) fn with_properties(properties: Map<String, Value>, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
        "$schema": "http://json-schema.org/draft-07/schema#"
    })
}

pub(crate) fn output(properties: &[(&str, &str)]) -> Value {
    let map: Map<String, Value> =
        properties.iter().map(|(name, description)| ((*name).to_owned(), string(description))).collect();
    let required: Vec<&str> = properties.iter().map(|(name, _)| *name).collect();
    json!({"type": "object", "properties": map, "required": required, "additionalProperties": false, "$schema": "http://json-schema.org/draft-07/schema#"})
}

pub(crate) const REMOTE_URL: (&str, &str) = ("remoteUrl", "A URL to the repository with the provider");
pub(crate) const REPO_CONTENTS_URL: (&str, &str) = ("repoContentsUrl", "A URL to the root of the repository");
pub(crate) const COMMIT_HASH: (&str, &str) = ("commitHash", "The git commit hash of the initial commit");

/// `publish:github`'s input properties, in Backstage's order.
pub(crate) const PUBLISH: &[&str] = &[
    "repoUrl",
    "description",
    "homepage",
    "access",
    "bypassPullRequestAllowances",
    "requiredApprovingReviewCount",
    "restrictions",
    "requireCodeOwnerReviews",
    "dismissStaleReviews",
    "requiredStatusCheckContexts",
    "requireBranchesToBeUpToDate",
    "requiredConversationResolution",
    "requireLastPushApproval",
    "repoVisibility",
    "defaultBranch",
    "protectDefaultBranch",
    "protectEnforceAdmins",
    "deleteBranchOnMerge",
    "gitCommitMessage",
    "gitAuthorName",
    "gitAuthorEmail",
    "allowMergeCommit",
    "allowSquashMerge",
    "squashMergeCommitTitle",
    "squashMergeCommitMessage",
    "allowRebaseMerge",
    "allowAutoMerge",
    "allowUpdateBranch",
    "sourcePath",
    "collaborators",
    "hasProjects",
    "hasWiki",
    "hasIssues",
    "token",
    "topics",
    "repoVariables",
    "secrets",
    "oidcCustomization",
    "requiredCommitSigning",
    "requiredLinearHistory",
    "customProperties",
    "subscribe",
];

/// `github:repo:create`'s input properties.
pub(crate) const REPO_CREATE: &[&str] = &[
    "access",
    "allowAutoMerge",
    "allowMergeCommit",
    "allowRebaseMerge",
    "allowSquashMerge",
    "allowUpdateBranch",
    "autoInit",
    "collaborators",
    "customProperties",
    "deleteBranchOnMerge",
    "description",
    "hasIssues",
    "hasProjects",
    "hasWiki",
    "homepage",
    "oidcCustomization",
    "repoUrl",
    "repoVariables",
    "repoVisibility",
    "secrets",
    "squashMergeCommitMessage",
    "squashMergeCommitTitle",
    "subscribe",
    "token",
    "topics",
    "workflowAccess",
];

/// `github:repo:push`'s input properties.
pub(crate) const REPO_PUSH: &[&str] = &[
    "repoUrl",
    "requireCodeOwnerReviews",
    "dismissStaleReviews",
    "requiredStatusCheckContexts",
    "bypassPullRequestAllowances",
    "requiredApprovingReviewCount",
    "restrictions",
    "requireBranchesToBeUpToDate",
    "requiredConversationResolution",
    "requireLastPushApproval",
    "defaultBranch",
    "protectDefaultBranch",
    "protectEnforceAdmins",
    "gitCommitMessage",
    "gitAuthorName",
    "gitAuthorEmail",
    "sourcePath",
    "token",
    "requiredCommitSigning",
    "requiredLinearHistory",
];
