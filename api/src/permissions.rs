//! Who may do what (`permission.enabled`): an RBAC policy in the community RBAC plugin's CSV
//! format (`p, role, permission, action, allow|deny[, resource]` and `g, member, role`), with group
//! membership read from the catalog (`spec.memberOf`, `spec.members`, parents, transitively), and
//! super-users from configuration. The file is read again when it changes.
//!
//! Decisions: a deny that matches wins over an allow; nothing that matches is a deny. Service
//! principals (static tokens) are trusted, as Backstage trusts service credentials. The
//! per-template run permission `scaffolder.template.run` (resource: the template's entity ref) is
//! enforced only once some rule names it, so existing policies keep working.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use store::Store;

use crate::auth::Principal;
use crate::error::ApiError;

/// The policy file is checked for changes at most this often.
const RELOAD_CHECK: Duration = Duration::from_secs(2);

#[derive(Clone, Debug, Default)]
pub struct PermissionConfig {
    /// `permission.enabled`.
    pub enabled: bool,
    /// `permission.rbac.policies-csv-file`.
    pub policy_file: Option<PathBuf>,
    /// `permission.rbac.admin.superUsers[].name`: allowed everything.
    pub super_users: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct PolicyRule {
    role: String,
    permission: String,
    action: String,
    allow: bool,
    resource: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    rules: Vec<PolicyRule>,
    /// `(member, role)`: a user or group entity ref, and the role it holds.
    members: Vec<(String, String)>,
}

impl Policy {
    /// Reads the CSV; an error names the line.
    pub fn parse(text: &str) -> Result<Policy, String> {
        let mut policy = Policy::default();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<String> = line.split(',').map(|f| f.trim().to_lowercase()).collect();
            let at = |what: &str| format!("line {}: {what}: {line}", number + 1);
            match fields.first().map(String::as_str) {
                Some("p") => {
                    if !(5..=6).contains(&fields.len()) {
                        return Err(at("a policy is `p, role, permission, action, allow|deny`"));
                    }
                    let allow = match fields[4].as_str() {
                        "allow" => true,
                        "deny" => false,
                        _ => return Err(at("the effect must be allow or deny")),
                    };
                    if !["create", "read", "update", "delete", "use"].contains(&fields[3].as_str()) {
                        return Err(at("the action must be create, read, update, delete or use"));
                    }
                    policy.rules.push(PolicyRule {
                        role: fields[1].clone(),
                        permission: fields[2].clone(),
                        action: fields[3].clone(),
                        allow,
                        resource: fields.get(5).cloned().filter(|r| !r.is_empty()),
                    });
                }
                Some("g") => {
                    if fields.len() != 3 {
                        return Err(at("a role assignment is `g, user-or-group, role`"));
                    }
                    policy.members.push((fields[1].clone(), fields[2].clone()));
                }
                _ => return Err(at("a line starts with p or g")),
            }
        }
        Ok(policy)
    }

    fn names(&self, permission: &str) -> bool {
        self.rules.iter().any(|r| r.permission == permission)
    }
}

/// Backstage's action attribute of each permission we enforce.
fn action_of(permission: &str) -> &'static str {
    match permission {
        "scaffolder.task.create" | "catalog.entity.create" | "catalog.location.create" => "create",
        "scaffolder.task.read"
        | "scaffolder.template.parameter.read"
        | "scaffolder.template.step.read"
        | "catalog.entity.read"
        | "catalog.location.read" => "read",
        "catalog.entity.refresh" => "update",
        "catalog.entity.delete" | "catalog.location.delete" => "delete",
        _ => "use",
    }
}

struct Loaded {
    policy: Policy,
    modified: Option<SystemTime>,
    checked: Instant,
}

pub(crate) struct Permissions {
    config: PermissionConfig,
    store: Store,
    loaded: Mutex<Loaded>,
}

impl Permissions {
    /// Reads the policy file now. The configuration check refuses a broken file at start-up;
    /// one broken since then leaves an empty policy, which allows nothing.
    pub fn new(config: PermissionConfig, store: Store) -> Self {
        let (policy, modified) = match &config.policy_file {
            Some(path) if config.enabled => read_policy(path).unwrap_or_else(|error| {
                tracing::error!(%error, "the permission policy cannot be read; nothing is allowed until it can");
                (Policy::default(), None)
            }),
            _ => (Policy::default(), None),
        };
        Permissions { config, store, loaded: Mutex::new(Loaded { policy, modified, checked: Instant::now() }) }
    }

    /// The policy, read again when the file changed (a broken edit keeps the previous one).
    fn policy(&self) -> Policy {
        let mut loaded = self.loaded.lock().expect("policy lock");
        if let Some(path) = &self.config.policy_file
            && loaded.checked.elapsed() >= RELOAD_CHECK
        {
            loaded.checked = Instant::now();
            let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
            if modified != loaded.modified {
                match read_policy(path) {
                    Ok((policy, modified)) => {
                        tracing::info!(path = %path.display(), "permission policy reloaded");
                        loaded.policy = policy;
                        loaded.modified = modified;
                    }
                    Err(error) => {
                        tracing::error!(%error, "the permission policy file is broken; keeping the previous policy");
                        loaded.modified = modified;
                    }
                }
            }
        }
        loaded.policy.clone()
    }

    /// Whether `principal` may `permission` (on `resource`, for resource permissions).
    pub async fn allowed(
        &self,
        principal: &Principal,
        permission: &str,
        resource: Option<&str>,
    ) -> Result<bool, ApiError> {
        if !self.config.enabled {
            return Ok(true);
        }
        let user = match principal {
            Principal::Service { .. } => return Ok(true),
            Principal::None => return Ok(false),
            Principal::User { entity_ref, .. } => entity_ref.to_lowercase(),
        };
        if self.config.super_users.iter().any(|u| u.eq_ignore_ascii_case(&user)) {
            return Ok(true);
        }
        let policy = self.policy();
        if permission == "scaffolder.template.run" && !policy.names(permission) {
            return Ok(true);
        }
        let identities = self.identities(&user).await?;
        let roles: HashSet<&str> = policy
            .members
            .iter()
            .filter(|(member, _)| identities.contains(member))
            .map(|(_, role)| role.as_str())
            .collect();
        let action = action_of(permission);
        let resource = resource.map(str::to_lowercase);
        let matching: Vec<&PolicyRule> = policy
            .rules
            .iter()
            .filter(|r| roles.contains(r.role.as_str()) && r.permission == permission && r.action == action)
            .filter(|r| r.resource.is_none() || r.resource == resource)
            .collect();
        Ok(!matching.iter().any(|r| !r.allow) && matching.iter().any(|r| r.allow))
    }

    /// 403 with Backstage's envelope unless allowed.
    pub async fn require(
        &self,
        principal: &Principal,
        permission: &str,
        resource: Option<&str>,
    ) -> Result<(), ApiError> {
        if self.allowed(principal, permission, resource).await? {
            return Ok(());
        }
        let on = resource.map(|r| format!(" on {r}")).unwrap_or_default();
        Err(ApiError::not_allowed(format!("You are not allowed to {permission}{on}")))
    }

    /// Reading a task: one's own always; anyone else's with `scaffolder.task.read`.
    pub async fn require_task(
        &self,
        principal: &Principal,
        created_by: Option<&str>,
        permission: &str,
    ) -> Result<(), ApiError> {
        let own = principal.user_ref().is_some_and(|me| created_by.is_some_and(|c| c.eq_ignore_ascii_case(me)));
        if own { Ok(()) } else { self.require(principal, permission, None).await }
    }

    /// The user and every group they belong to, directly or through parents.
    async fn identities(&self, user: &str) -> Result<HashSet<String>, ApiError> {
        let mut identities = HashSet::from([user.to_owned()]);
        let groups = self.store.entity_list_by_kind("group").await?;
        let groups: Vec<(String, Value)> = groups
            .into_iter()
            .filter_map(|row| {
                Some((
                    format!("group:{}/{}", row.namespace, row.name).to_lowercase(),
                    serde_json::from_str(&row.entity).ok()?,
                ))
            })
            .collect();
        let mut pending: Vec<String> = Vec::new();
        if let Ok(reference) = templates::EntityRef::parse(user, Some("user"), Some("default"))
            && let Some(row) = self.store.entity_get("user", &reference.namespace, &reference.name).await?
        {
            let entity: Value = serde_json::from_str(&row.entity).unwrap_or_default();
            for group in entity["spec"]["memberOf"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                pending.push(group_ref(group));
            }
        }
        for (reference, group) in &groups {
            let members = group["spec"]["members"].as_array().into_iter().flatten().filter_map(Value::as_str);
            if members.map(user_ref).any(|member| member == user) {
                pending.push(reference.clone());
            }
        }
        while let Some(group) = pending.pop() {
            if !identities.insert(group.clone()) {
                continue;
            }
            if let Some((_, entity)) = groups.iter().find(|(reference, _)| *reference == group)
                && let Some(parent) = entity["spec"]["parent"].as_str()
            {
                pending.push(group_ref(parent));
            }
        }
        Ok(identities)
    }
}

fn group_ref(text: &str) -> String {
    templates::EntityRef::parse(text, Some("group"), Some("default"))
        .map(|r| r.to_string().to_lowercase())
        .unwrap_or_default()
}

fn user_ref(text: &str) -> String {
    templates::EntityRef::parse(text, Some("user"), Some("default"))
        .map(|r| r.to_string().to_lowercase())
        .unwrap_or_default()
}

fn read_policy(path: &PathBuf) -> Result<(Policy, Option<SystemTime>), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let policy = Policy::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((policy, std::fs::metadata(path).and_then(|m| m.modified()).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csv_format_and_its_errors() {
        let policy = Policy::parse(
            "# roles\np, role:default/dev, scaffolder.task.create, create, allow\n\np, role:default/dev, scaffolder.template.run, use, deny, template:default/prod\ng, group:default/team-a, role:default/dev\n",
        )
        .unwrap();
        assert_eq!(policy.rules.len(), 2);
        assert_eq!(policy.rules[1].resource.as_deref(), Some("template:default/prod"));
        assert_eq!(policy.members, vec![("group:default/team-a".to_owned(), "role:default/dev".to_owned())]);
        for (text, says) in [
            ("p, r, x, create", "line 1"),
            ("p, r, x, create, maybe", "allow or deny"),
            ("p, r, x, fly, allow", "create, read"),
            ("g, a", "g, user-or-group, role"),
            ("x, y", "starts with p or g"),
        ] {
            let error = Policy::parse(text).unwrap_err();
            assert!(error.contains(says), "{text}: {error}");
        }
    }
}
