//! Who is calling. Every route except health and metrics needs credentials, as in Backstage:
//! a static external-access token (`backend.auth.externalAccess`), a user token of a Backstage
//! installation or of a configured OIDC provider (`jwt`), or none at all when
//! `backend.auth.dangerouslyDisableDefaultAuthPolicy` is set.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::jwt::{Identity, TokenIssuer, Verifier};

/// A static token from `backend.auth.externalAccess` (`type: static`).
#[derive(Clone)]
pub struct StaticToken {
    pub token: String,
    pub subject: String,
}

impl std::fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticToken").field("subject", &self.subject).finish_non_exhaustive()
    }
}

#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// `backend.auth.dangerouslyDisableDefaultAuthPolicy`: requests without a token are let in.
    pub disable_default_policy: bool,
    pub static_tokens: Vec<StaticToken>,
    /// Issuers of user tokens: a Backstage installation's auth backend, OIDC providers.
    pub issuers: Vec<TokenIssuer>,
    /// A token naming an unknown key fetches the issuer's keys again at most this often.
    pub key_refresh_interval: std::time::Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            disable_default_policy: false,
            static_tokens: Vec::new(),
            issuers: Vec::new(),
            key_refresh_interval: std::time::Duration::from_secs(2),
        }
    }
}

/// The caller, as Backstage's credentials describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// No credentials (only with the default policy disabled).
    None,
    /// A service, e.g. a CI job with a static token; tasks it creates have no `createdBy`.
    Service { subject: String },
    /// A user, identified by their catalog entity reference.
    User { entity_ref: String, token: String },
}

impl Principal {
    pub fn user_ref(&self) -> Option<&str> {
        match self {
            Principal::User { entity_ref, .. } => Some(entity_ref),
            _ => None,
        }
    }
}

pub struct Authenticator {
    config: AuthConfig,
    verifier: Verifier,
    /// Where sign-in resolvers look for User entities.
    users: Option<store::Store>,
}

const ILLEGAL: &str = "Could not resolve credentials; caused by AuthenticationError: Illegal token";

impl Authenticator {
    pub fn new(config: AuthConfig) -> Self {
        let verifier = Verifier::new(config.issuers.clone(), config.key_refresh_interval);
        Authenticator { config, verifier, users: None }
    }

    /// Resolves OIDC sign-ins against the User entities of this catalog.
    pub fn with_users(mut self, store: store::Store) -> Self {
        self.users = Some(store);
        self
    }

    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, ApiError> {
        let Some(value) = authorization else {
            return if self.config.disable_default_policy {
                Ok(Principal::None)
            } else {
                Err(ApiError::authentication("Missing credentials"))
            };
        };
        let Some(token) = value.strip_prefix("Bearer ").map(str::trim).filter(|t| !t.is_empty()) else {
            return Err(ApiError::authentication(ILLEGAL));
        };
        // Compare every configured token in constant time, so timing says nothing about them.
        let matched = self
            .config
            .static_tokens
            .iter()
            .find(|candidate| constant_time_eq(candidate.token.as_bytes(), token.as_bytes()));
        if let Some(candidate) = matched {
            return Ok(Principal::Service { subject: candidate.subject.clone() });
        }
        if self.verifier.is_empty() || token.split('.').count() != 3 {
            return Err(ApiError::authentication(ILLEGAL));
        }
        let verified = self.verifier.verify(token).await.map_err(|reason| {
            tracing::info!(%reason, "a user token was refused");
            ApiError::authentication(format!("Could not resolve credentials; caused by AuthenticationError: {reason}"))
        })?;
        let entity_ref = match &verified.issuer.identity {
            Identity::EntityRefSubject => {
                let subject = verified.claims["sub"].as_str().unwrap_or_default();
                let reference = templates::EntityRef::parse(subject, Some("user"), Some("default"))
                    .map_err(|_| ApiError::authentication("The token's subject is not a user entity reference"))?;
                if !reference.kind.eq_ignore_ascii_case("user") {
                    return Err(ApiError::authentication("The token's subject is not a user entity reference"));
                }
                reference.to_string()
            }
            Identity::Resolvers(resolvers) => self.resolve(resolvers, &verified.claims).await?,
        };
        Ok(Principal::User { entity_ref, token: token.to_owned() })
    }

    /// The first User entity a resolver matches; none is a 401, never a guest.
    async fn resolve(
        &self,
        resolvers: &[crate::jwt::Resolver],
        claims: &serde_json::Value,
    ) -> Result<String, ApiError> {
        let refused = || {
            ApiError::authentication(
                "Failed to sign-in, unable to resolve user identity. Please verify that your catalog contains the expected User entities that would match your configured sign-in resolver.",
            )
        };
        let Some(store) = &self.users else { return Err(refused()) };
        let rows = store.entity_list_by_kind("user").await?;
        let users: Vec<(String, serde_json::Value)> = rows
            .into_iter()
            .filter_map(|row| {
                Some((format!("user:{}/{}", row.namespace, row.name), serde_json::from_str(&row.entity).ok()?))
            })
            .collect();
        for resolver in resolvers {
            if let Some((reference, _)) = users.iter().find(|(_, user)| resolver.matches(claims, user)) {
                return Ok(reference.to_lowercase());
            }
        }
        Err(refused())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Middleware: resolves the caller and stores the [`Principal`] in the request.
pub async fn authenticate(State(auth): State<Arc<Authenticator>>, mut request: Request, next: Next) -> Response {
    let header = request.headers().get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or("\u{0}"));
    match auth.authenticate(header).await {
        Ok(principal) => {
            if let Principal::Service { subject } = &principal {
                tracing::debug!(subject = %subject, "request from a service principal");
            }
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(error) => error.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(disabled: bool) -> Authenticator {
        Authenticator::new(AuthConfig {
            disable_default_policy: disabled,
            static_tokens: vec![StaticToken { token: "secret-token-1".to_owned(), subject: "ci".to_owned() }],
            ..AuthConfig::default()
        })
    }

    #[tokio::test]
    async fn static_tokens_and_the_disabled_policy() {
        assert_eq!(
            auth(false).authenticate(Some("Bearer secret-token-1")).await.unwrap(),
            Principal::Service { subject: "ci".to_owned() }
        );
        assert_eq!(auth(false).authenticate(None).await.unwrap_err().status(), 401);
        assert_eq!(auth(true).authenticate(None).await.unwrap(), Principal::None);
        for bad in ["Bearer nope", "Basic abc", "Bearer ", "secret-token-1", "Bearer a.b.c"] {
            assert_eq!(auth(true).authenticate(Some(bad)).await.unwrap_err().status(), 401, "{bad}");
        }
    }
}
