//! Who is calling. Every route except health and metrics needs credentials, as in Backstage:
//! a static external-access token (`backend.auth.externalAccess`), or none at all when
//! `backend.auth.dangerouslyDisableDefaultAuthPolicy` is set.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

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

#[derive(Clone, Debug, Default)]
pub struct AuthConfig {
    /// `backend.auth.dangerouslyDisableDefaultAuthPolicy`: requests without a token are let in.
    pub disable_default_policy: bool,
    pub static_tokens: Vec<StaticToken>,
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
}

impl Authenticator {
    pub fn new(config: AuthConfig) -> Self {
        Authenticator { config }
    }

    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, ApiError> {
        let Some(value) = authorization else {
            return if self.config.disable_default_policy {
                Ok(Principal::None)
            } else {
                Err(ApiError::authentication("Missing credentials"))
            };
        };
        let Some(token) = value.strip_prefix("Bearer ").map(str::trim).filter(|t| !t.is_empty()) else {
            return Err(ApiError::authentication(
                "Could not resolve credentials; caused by AuthenticationError: Illegal token",
            ));
        };
        // Compare every configured token in constant time, so timing says nothing about them.
        let matched = self
            .config
            .static_tokens
            .iter()
            .find(|candidate| constant_time_eq(candidate.token.as_bytes(), token.as_bytes()));
        match matched {
            Some(candidate) => Ok(Principal::Service { subject: candidate.subject.clone() }),
            None => Err(ApiError::authentication(
                "Could not resolve credentials; caused by AuthenticationError: Illegal token",
            )),
        }
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
    match auth.authenticate(header) {
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
        })
    }

    #[test]
    fn static_tokens_and_the_disabled_policy() {
        assert_eq!(
            auth(false).authenticate(Some("Bearer secret-token-1")).unwrap(),
            Principal::Service { subject: "ci".to_owned() }
        );
        assert_eq!(auth(false).authenticate(None).unwrap_err().status(), 401);
        assert_eq!(auth(true).authenticate(None).unwrap(), Principal::None);
        for bad in ["Bearer nope", "Basic abc", "Bearer ", "secret-token-1"] {
            assert_eq!(auth(true).authenticate(Some(bad)).unwrap_err().status(), 401, "{bad}");
        }
    }
}
