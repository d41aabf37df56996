//! `catalog.rules`: which entity kinds may come in.

/// `{ allow: [Component, Template, ...] }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub allow: Vec<String>,
}

/// Backstage's default when no rules are configured.
const DEFAULT_ALLOW: [&str; 3] = ["Component", "API", "Location"];

/// Whether `kind` is allowed by any rule (kinds compare case-insensitively).
pub fn allows(rules: Option<&[Rule]>, kind: &str) -> bool {
    match rules {
        None => DEFAULT_ALLOW.iter().any(|allowed| allowed.eq_ignore_ascii_case(kind)),
        Some(rules) => rules.iter().flat_map(|rule| &rule.allow).any(|allowed| allowed.eq_ignore_ascii_case(kind)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_configured_rules() {
        assert!(allows(None, "component"));
        assert!(!allows(None, "Template"));
        let rules = [Rule { allow: vec!["Template".to_owned()] }, Rule { allow: vec!["User".to_owned()] }];
        assert!(allows(Some(&rules), "template"));
        assert!(allows(Some(&rules), "User"));
        assert!(!allows(Some(&rules), "Component"));
    }
}
