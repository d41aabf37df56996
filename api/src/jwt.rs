//! Signed user tokens: those a Backstage installation's auth backend issues (ES256, `sub` is the
//! user's entity ref) and OIDC tokens of configured providers (Cognito, any OIDC issuer), checked
//! against the issuer's JWKS: signature, `iss`, `aud`/`client_id`, `exp` and `nbf` with a small
//! clock skew. Keys are cached and fetched again when a token names a key not seen yet (at most
//! once every few seconds per issuer, so bad tokens cannot make us hammer the provider).
//!
//! Invariant: only asymmetric algorithms are accepted (never `none` or HMAC), and a token is
//! matched to exactly one configured issuer by its `iss` before any key is looked up.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

/// Tokens may be this far outside `exp`/`nbf` (clocks drift).
const LEEWAY_SECONDS: u64 = 30;
/// Keys are fetched again after this long regardless.
const KEYS_TTL: Duration = Duration::from_secs(3600);

/// How a verified token names its user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    /// `sub` is the user's entity ref (Backstage's own tokens).
    EntityRefSubject,
    /// Sign-in resolvers, tried in order, against the catalog's User entities.
    Resolvers(Vec<Resolver>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolver {
    EmailMatchingUserEntityProfileEmail,
    EmailLocalPartMatchingUserEntityName,
    UsernameMatchingUserEntityName,
}

impl Resolver {
    pub fn parse(name: &str) -> Option<Resolver> {
        match name {
            "emailMatchingUserEntityProfileEmail" => Some(Resolver::EmailMatchingUserEntityProfileEmail),
            "emailLocalPartMatchingUserEntityName" => Some(Resolver::EmailLocalPartMatchingUserEntityName),
            "usernameMatchingUserEntityName" => Some(Resolver::UsernameMatchingUserEntityName),
            _ => None,
        }
    }

    /// Whether the User entity `user` is the one the token's `claims` name.
    pub fn matches(self, claims: &Value, user: &Value) -> bool {
        let name = user["metadata"]["name"].as_str().unwrap_or_default();
        let email = claims["email"].as_str().filter(|e| !e.is_empty());
        match self {
            Resolver::EmailMatchingUserEntityProfileEmail => email.is_some_and(|email| {
                user["spec"]["profile"]["email"].as_str().is_some_and(|e| e.eq_ignore_ascii_case(email))
            }),
            Resolver::EmailLocalPartMatchingUserEntityName => email
                .and_then(|email| email.split_once('@'))
                .is_some_and(|(local, _)| !local.is_empty() && local.eq_ignore_ascii_case(name)),
            Resolver::UsernameMatchingUserEntityName => ["preferred_username", "cognito:username", "username"]
                .iter()
                .find_map(|claim| claims[*claim].as_str())
                .is_some_and(|username| username.eq_ignore_ascii_case(name)),
        }
    }
}

/// One trusted issuer of user tokens.
#[derive(Clone, Debug)]
pub struct TokenIssuer {
    /// For messages and logs: `backstage`, `oidc`, `cognito`.
    pub provider: String,
    /// The expected `iss`; read from the discovery document when not configured.
    pub issuer: Option<String>,
    /// OIDC discovery (`.well-known/openid-configuration`): `issuer` and `jwks_uri`.
    pub metadata_url: Option<String>,
    pub jwks_url: Option<String>,
    /// Accepted in `aud`, or in `client_id` (Cognito access tokens carry no `aud`).
    pub audience: Option<String>,
    pub identity: Identity,
}

struct Keys {
    set: JwkSet,
    fetched: Instant,
}

#[derive(Clone)]
struct Endpoints {
    issuer: String,
    jwks_url: String,
}

pub(crate) struct Verifier {
    issuers: Vec<TokenIssuer>,
    /// An unknown `kid` refreshes the keys at most this often.
    refresh_interval: Duration,
    http: reqwest::Client,
    keys: tokio::sync::Mutex<HashMap<String, Keys>>,
    endpoints: tokio::sync::Mutex<HashMap<usize, Endpoints>>,
}

/// A token that passed every check.
pub(crate) struct Verified<'a> {
    pub claims: Value,
    pub issuer: &'a TokenIssuer,
}

impl Verifier {
    pub fn new(issuers: Vec<TokenIssuer>, refresh_interval: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("an HTTP client with a timeout builds");
        Verifier { issuers, refresh_interval, http, keys: Default::default(), endpoints: Default::default() }
    }

    pub fn is_empty(&self) -> bool {
        self.issuers.is_empty()
    }

    /// Checks `token`; the error says why it was refused (without echoing the token).
    pub async fn verify(&self, token: &str) -> Result<Verified<'_>, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| "Illegal token".to_owned())?;
        if !matches!(
            header.alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
                | Algorithm::ES256
                | Algorithm::ES384
        ) {
            return Err(format!("Tokens signed with {:?} are not accepted", header.alg));
        }
        let unverified = unverified_claims(token).ok_or_else(|| "Illegal token".to_owned())?;
        let iss = unverified["iss"].as_str().ok_or_else(|| "The token names no issuer".to_owned())?;
        let (index, endpoints) = self.issuer_for(iss).await?;
        let issuer = &self.issuers[index];
        let key = self.key(&endpoints.jwks_url, header.kid.as_deref()).await?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_issuer(&[endpoints.issuer.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        let data = jsonwebtoken::decode::<Value>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => "The token has expired".to_owned(),
                ErrorKind::ImmatureSignature => "The token is not valid yet".to_owned(),
                ErrorKind::InvalidSignature => "The token's signature is invalid".to_owned(),
                ErrorKind::InvalidIssuer => "The token's issuer is not trusted".to_owned(),
                other => format!("The token is invalid: {other:?}"),
            }
        })?;
        if let Some(audience) = &issuer.audience {
            let claims = &data.claims;
            let in_aud = match &claims["aud"] {
                Value::String(aud) => aud == audience,
                Value::Array(auds) => auds.iter().any(|a| a.as_str() == Some(audience)),
                _ => false,
            };
            if !in_aud && claims["client_id"].as_str() != Some(audience) {
                return Err(format!("The token is not meant for this audience ({} expected)", audience));
            }
        }
        Ok(Verified { claims: data.claims, issuer })
    }

    /// The configured issuer whose `iss` is `iss`, and where its keys are.
    async fn issuer_for(&self, iss: &str) -> Result<(usize, Endpoints), String> {
        for (index, issuer) in self.issuers.iter().enumerate() {
            if let Some(expected) = &issuer.issuer
                && expected.trim_end_matches('/') != iss.trim_end_matches('/')
            {
                continue;
            }
            let endpoints = self.endpoints(index).await?;
            if endpoints.issuer.trim_end_matches('/') == iss.trim_end_matches('/') {
                return Ok((index, endpoints));
            }
        }
        Err("The token's issuer is not trusted".to_owned())
    }

    async fn endpoints(&self, index: usize) -> Result<Endpoints, String> {
        if let Some(known) = self.endpoints.lock().await.get(&index) {
            return Ok(known.clone());
        }
        let issuer = &self.issuers[index];
        let endpoints = match (&issuer.metadata_url, &issuer.issuer, &issuer.jwks_url) {
            (_, Some(iss), Some(jwks)) => Endpoints { issuer: iss.clone(), jwks_url: jwks.clone() },
            (Some(metadata), configured, jwks) => {
                let document = self.get_json(metadata).await?;
                let discovered = document["issuer"].as_str().ok_or_else(|| {
                    format!("The {} discovery document at {metadata} names no issuer", issuer.provider)
                })?;
                let jwks_url =
                    jwks.clone().or_else(|| document["jwks_uri"].as_str().map(str::to_owned)).ok_or_else(|| {
                        format!("The {} discovery document at {metadata} names no jwks_uri", issuer.provider)
                    })?;
                Endpoints { issuer: configured.clone().unwrap_or_else(|| discovered.to_owned()), jwks_url }
            }
            (None, Some(iss), None) => Endpoints {
                issuer: iss.clone(),
                jwks_url: format!("{}/.well-known/jwks.json", iss.trim_end_matches('/')),
            },
            (None, None, _) => return Err(format!("The {} provider has no issuer configured", issuer.provider)),
        };
        self.endpoints.lock().await.insert(index, endpoints.clone());
        Ok(endpoints)
    }

    /// The key `kid` from `jwks_url`, fetching the set again when it is unknown.
    async fn key(&self, jwks_url: &str, kid: Option<&str>) -> Result<DecodingKey, String> {
        let mut cache = self.keys.lock().await;
        let stale = cache.get(jwks_url).is_none_or(|keys| keys.fetched.elapsed() > KEYS_TTL);
        let missing = cache.get(jwks_url).is_some_and(|keys| find(&keys.set, kid).is_none());
        let may_refresh = cache.get(jwks_url).is_none_or(|keys| keys.fetched.elapsed() > self.refresh_interval);
        if stale || (missing && may_refresh) {
            let document = self.get_json(jwks_url).await?;
            let set: JwkSet = serde_json::from_value(document)
                .map_err(|e| format!("The key set at {jwks_url} is not a JWKS: {e}"))?;
            cache.insert(jwks_url.to_owned(), Keys { set, fetched: Instant::now() });
        }
        let keys = cache.get(jwks_url).expect("fetched above");
        let jwk = find(&keys.set, kid).ok_or_else(|| "The token was signed with an unknown key".to_owned())?;
        DecodingKey::from_jwk(jwk).map_err(|e| format!("The signing key cannot be used: {e}"))
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        let response =
            self.http.get(url).send().await.map_err(|e| format!("Cannot reach {url}: {}", e.without_url()))?;
        if !response.status().is_success() {
            return Err(format!("{url} answered {}", response.status()));
        }
        response.json().await.map_err(|e| format!("{url} did not answer JSON: {e}"))
    }
}

fn find<'a>(set: &'a JwkSet, kid: Option<&str>) -> Option<&'a jsonwebtoken::jwk::Jwk> {
    match kid {
        Some(kid) => set.find(kid),
        // A token without `kid` may use the only key there is.
        None if set.keys.len() == 1 => set.keys.first(),
        None => None,
    }
}

/// The payload before verification, only to pick the issuer.
fn unverified_claims(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn resolvers_match_like_backstage() {
        let user = json!({"metadata": {"name": "alice"}, "spec": {"profile": {"email": "Alice@Example.com"}}});
        let by_email = json!({"email": "alice@example.com"});
        assert!(Resolver::EmailMatchingUserEntityProfileEmail.matches(&by_email, &user));
        assert!(Resolver::EmailLocalPartMatchingUserEntityName.matches(&json!({"email": "alice@other.org"}), &user));
        assert!(Resolver::UsernameMatchingUserEntityName.matches(&json!({"cognito:username": "alice"}), &user));
        assert!(!Resolver::EmailMatchingUserEntityProfileEmail.matches(&json!({"email": "bob@example.com"}), &user));
        assert!(!Resolver::EmailLocalPartMatchingUserEntityName.matches(&json!({"email": "@x"}), &user));
        assert!(!Resolver::UsernameMatchingUserEntityName.matches(&json!({}), &user));
        assert_eq!(Resolver::parse("nope"), None);
    }
}
