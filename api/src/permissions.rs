//! Who may do what (`permission.enabled`): an RBAC policy in the community RBAC plugin's CSV
//! format (`p, role, permission, action, allow|deny[, resource]` and `g, member, role`), with group
//! membership read from the catalog (`spec.memberOf`, `spec.members`, parents, transitively), and
//! super-users from configuration. The file is read again on the first request after it changes.
//!
//! Decisions: a deny that matches wins over an allow; nothing that matches is a deny. Service
//! principals (static tokens) are trusted, as Backstage trusts service credentials. The
//! per-template run permission `scaffolder.template.run` (resource: the template's entity ref) is
//! enforced only once some rule names it, so existing policies keep working.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde_json::Value;
use store::Store;

use crate::auth::Principal;
use crate::error::ApiError;

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

/// The policy as last read, and what the file looked like then (modified time and length).
struct Loaded {
    policy: Arc<Policy>,
    seen: Option<(SystemTime, u64)>,
}

pub(crate) struct Permissions {
    config: PermissionConfig,
    store: Store,
    loaded: Mutex<Loaded>,
}

/// What one caller may do, worked out once per request: the policy and the caller's roles.
enum Caller {
    /// Permissions are off, a service, or a super-user.
    Everything,
    /// No credentials at all.
    Nothing,
    User {
        policy: Arc<Policy>,
        roles: HashSet<String>,
    },
}

impl Caller {
    fn allows(&self, permission: &str, resource: Option<&str>) -> bool {
        let (policy, roles) = match self {
            Caller::Everything => return true,
            Caller::Nothing => return false,
            Caller::User { policy, roles } => (policy, roles),
        };
        if permission == "scaffolder.template.run" && !policy.names(permission) {
            return true;
        }
        let action = action_of(permission);
        let resource = resource.map(str::to_lowercase);
        let mut matching = policy
            .rules
            .iter()
            .filter(|r| roles.contains(&r.role) && r.permission == permission && r.action == action)
            .filter(|r| r.resource.is_none() || r.resource == resource)
            .peekable();
        matching.peek().is_some() && matching.all(|r| r.allow)
    }
}

fn denied(permission: &str, resource: Option<&str>) -> ApiError {
    let on = resource.map(|r| format!(" on {r}")).unwrap_or_default();
    ApiError::not_allowed(format!("You are not allowed to {permission}{on}"))
}

impl Permissions {
    /// Reads the policy file now. The configuration check refuses a broken file at start-up;
    /// one broken since then leaves an empty policy, which allows nothing.
    pub fn new(config: PermissionConfig, store: Store) -> Self {
        let (policy, seen) = match &config.policy_file {
            Some(path) if config.enabled => read_policy(path).unwrap_or_else(|error| {
                tracing::error!(%error, "the permission policy cannot be read; nothing is allowed until it can");
                (Policy::default(), None)
            }),
            _ => (Policy::default(), None),
        };
        Permissions { config, store, loaded: Mutex::new(Loaded { policy: Arc::new(policy), seen }) }
    }

    /// The policy, read again when the file changed since it was last seen (one `stat` per
    /// request); a broken edit keeps the previous policy.
    fn policy(&self) -> Arc<Policy> {
        let mut loaded = self.loaded.lock().expect("policy lock");
        if let Some(path) = &self.config.policy_file {
            let seen = file_signature(path);
            if seen != loaded.seen {
                loaded.seen = seen;
                match read_policy(path) {
                    Ok((policy, _)) => {
                        tracing::info!(path = %path.display(), "permission policy reloaded");
                        loaded.policy = Arc::new(policy);
                    }
                    Err(error) => {
                        tracing::error!(%error, "the permission policy file is broken; keeping the previous policy")
                    }
                }
            }
        }
        loaded.policy.clone()
    }

    async fn caller(&self, principal: &Principal) -> Result<Caller, ApiError> {
        if !self.config.enabled {
            return Ok(Caller::Everything);
        }
        let user = match principal {
            Principal::Service { .. } => return Ok(Caller::Everything),
            Principal::None => return Ok(Caller::Nothing),
            Principal::User { entity_ref, .. } => entity_ref.to_lowercase(),
        };
        if self.config.super_users.iter().any(|u| u.eq_ignore_ascii_case(&user)) {
            return Ok(Caller::Everything);
        }
        let policy = self.policy();
        let identities = self.identities(&user).await?;
        let roles = policy
            .members
            .iter()
            .filter(|(member, _)| identities.contains(member))
            .map(|(_, role)| role.clone())
            .collect();
        Ok(Caller::User { policy, roles })
    }

    /// Whether `principal` may `permission` (on `resource`, for resource permissions).
    pub async fn allowed(
        &self,
        principal: &Principal,
        permission: &str,
        resource: Option<&str>,
    ) -> Result<bool, ApiError> {
        Ok(self.caller(principal).await?.allows(permission, resource))
    }

    /// 403 with Backstage's envelope unless allowed.
    pub async fn require(
        &self,
        principal: &Principal,
        permission: &str,
        resource: Option<&str>,
    ) -> Result<(), ApiError> {
        self.require_all(principal, &[(permission, resource)]).await
    }

    /// Every check of one request, with the caller's roles worked out once; the first denial is
    /// the answer.
    pub async fn require_all(&self, principal: &Principal, checks: &[(&str, Option<&str>)]) -> Result<(), ApiError> {
        let caller = self.caller(principal).await?;
        match checks.iter().find(|(permission, resource)| !caller.allows(permission, *resource)) {
            Some((permission, resource)) => Err(denied(permission, *resource)),
            None => Ok(()),
        }
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

/// What says the file changed: its modified time and length.
fn file_signature(path: &PathBuf) -> Option<(SystemTime, u64)> {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

fn read_policy(path: &PathBuf) -> Result<(Policy, Option<(SystemTime, u64)>), String> {
    let seen = file_signature(path);
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let policy = Policy::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((policy, seen))
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
