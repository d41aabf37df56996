//! Entity references as Backstage writes them: `[kind:][namespace/]name`.

use std::fmt;

use thiserror::Error;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct EntityRefError(String);

impl EntityRef {
    /// Parses `reference` exactly as Backstage's `parseEntityRef` does: the kind is what precedes
    /// the first `:` (unless a `/` comes first), the namespace what precedes the first `/`, the
    /// name the rest; missing parts take the defaults (namespace `default`).
    pub fn parse(
        reference: &str,
        default_kind: Option<&str>,
        default_namespace: Option<&str>,
    ) -> Result<Self, EntityRefError> {
        if reference.is_empty() {
            return Err(EntityRefError("Entity reference must not be empty".to_owned()));
        }
        let colon = reference.find(':');
        let slash = reference.find('/');
        let colon = match (colon, slash) {
            (Some(c), Some(s)) if s < c => None,
            (c, _) => c,
        };
        let kind = colon.map(|c| &reference[..c]);
        let namespace = slash.map(|s| &reference[colon.map_or(0, |c| c + 1)..s]);
        let name_start = colon.map_or(0, |c| c + 1).max(slash.map_or(0, |s| s + 1));
        let name = &reference[name_start..];
        if kind == Some("") || namespace == Some("") || name.is_empty() {
            return Err(EntityRefError(format!(
                "Entity reference \"{reference}\" was not on the form [<kind>:][<namespace>/]<name>"
            )));
        }
        let kind = match kind.or(default_kind).filter(|k| !k.is_empty()) {
            Some(kind) => kind.to_owned(),
            None => {
                return Err(EntityRefError(format!(
                    "Entity reference \"{reference}\" had missing or empty kind (e.g. did not start with \"component:\" or similar)"
                )));
            }
        };
        // `defaultNamespace || 'default'`: an empty default counts as none.
        let namespace = namespace.or(default_namespace.filter(|n| !n.is_empty())).unwrap_or("default").to_owned();
        Ok(EntityRef { kind, namespace, name: name.to_owned() })
    }
}

/// Backstage's rule for entity names and namespaces: 1-63 characters of `[a-zA-Z0-9]`, separated by
/// `-`, `_` or `.`.
pub fn is_valid_entity_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !name.is_empty()
        && name.len() <= 63
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !bytes.windows(2).any(|pair| pair.iter().all(|b| matches!(b, b'-' | b'_' | b'.')))
}

/// `kind:namespace/name`, all lower-cased, as Backstage's `stringifyEntityRef`.
impl fmt::Display for EntityRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}/{}", self.kind.to_lowercase(), self.namespace.to_lowercase(), self.name.to_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_defaults() {
        let cases = [
            ("template:default/bench", "template", "default", "bench"),
            ("bench", "template", "default", "bench"),
            ("Template:team-a/svc", "Template", "team-a", "svc"),
            ("group:techdocs", "group", "default", "techdocs"),
        ];
        for (input, kind, namespace, name) in cases {
            let parsed = EntityRef::parse(input, Some("template"), None).unwrap();
            assert_eq!(
                (parsed.kind.as_str(), parsed.namespace.as_str(), parsed.name.as_str()),
                (kind, namespace, name),
                "{input}"
            );
        }
        assert_eq!(EntityRef::parse("Template:Team-A/Svc", None, None).unwrap().to_string(), "template:team-a/svc");
    }

    #[test]
    fn entity_names_follow_backstages_rule() {
        for good in ["a", "my-service", "a.b_c-d", "X9", &"a".repeat(63)] {
            assert!(is_valid_entity_name(good), "{good}");
        }
        for bad in ["", "-a", "a-", "a--b", "a._b", "has space", "ünï", &"a".repeat(64)] {
            assert!(!is_valid_entity_name(bad), "{bad}");
        }
    }

    #[test]
    fn follows_backstages_parser_for_odd_references() {
        for input in ["", "kind:", "ns/", ":x", "/x"] {
            assert!(EntityRef::parse(input, Some("template"), None).is_err(), "{input}");
        }
        assert!(EntityRef::parse("name", None, None).is_err());
        let message = |input: &str| EntityRef::parse(input, Some("template"), None).unwrap_err().to_string();
        assert_eq!(message(""), "Entity reference must not be empty");
        assert_eq!(message(":x"), "Entity reference \":x\" was not on the form [<kind>:][<namespace>/]<name>");
        assert_eq!(message("k:/x"), "Entity reference \"k:/x\" was not on the form [<kind>:][<namespace>/]<name>");
        assert!(EntityRef::parse("x", None, None).unwrap_err().to_string().contains("had missing or empty kind"));
        // A colon after the first slash belongs to the name.
        let named = EntityRef::parse("ns/a:b", Some("group"), None).unwrap();
        assert_eq!((named.kind.as_str(), named.namespace.as_str(), named.name.as_str()), ("group", "ns", "a:b"));
        assert_eq!(EntityRef::parse("x", Some("k"), Some("")).unwrap().namespace, "default");
        let odd = EntityRef::parse("a:b/c/d", None, None).unwrap();
        assert_eq!((odd.kind.as_str(), odd.namespace.as_str(), odd.name.as_str()), ("a", "b", "c/d"));
        let slash_first = EntityRef::parse("ns/a:b", Some("k"), None).unwrap();
        assert_eq!(
            (slash_first.kind.as_str(), slash_first.namespace.as_str(), slash_first.name.as_str()),
            ("k", "ns", "a:b")
        );
    }
}
