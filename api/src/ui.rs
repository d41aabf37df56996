//! The built-in web page (`/` and `/ui/*`) and what it asks before signing in
//! (`GET /api/scaffolder/v2/ui-config`).
//!
//! The page is plain HTML, CSS and JavaScript modules in `api/ui/`, embedded in the binary: no
//! Node at run time, nothing to build. It holds no data, so serving it needs no credentials; every
//! data call it makes goes through the authenticated API like any other client.
//!
//! Invariant: the page runs under a strict Content-Security-Policy (no inline script or style,
//! connections only to this origin and, with OIDC sign-in, to the provider's token endpoint).

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::auth::{AuthConfig, Authenticator, Principal};
use crate::error::ApiError;

/// One embedded file of the page.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset { name: $name, content_type: $type, body: include_bytes!(concat!("../ui/", $name)) }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("auth.js", JS),
    asset!("dom.js", JS),
    asset!("form.js", JS),
    asset!("templates.js", JS),
    asset!("run.js", JS),
    asset!("task.js", JS),
    asset!("tasks.js", JS),
    asset!("dryrun.js", JS),
];

/// Strong validators, so browsers revalidate cheaply (`Cache-Control: no-cache` + `ETag`): the
/// files change with the binary, and their names carry no version.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            let digest = Sha256::digest(asset.body);
            let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
            format!("\"{hex}\"")
        })
        .collect()
});

/// What the page needs to send a user through their OIDC provider (authorization code + PKCE).
#[derive(Clone, Debug)]
struct SignIn {
    provider: String,
    authorization_endpoint: String,
    token_endpoint: String,
    client_id: String,
}

/// Where the sign-in provider's endpoints are found, and their discovered values once known.
struct Provider {
    name: String,
    discovery_url: String,
    client_id: String,
    discovered: tokio::sync::Mutex<Option<SignIn>>,
}

pub(crate) struct Ui {
    auth_required: bool,
    provider: Option<Provider>,
    authenticator: Arc<Authenticator>,
    http: reqwest::Client,
}

impl Ui {
    /// The page signs users in with the first OIDC (or Cognito) provider that names a `clientId`.
    pub(crate) fn new(auth: &AuthConfig, authenticator: Arc<Authenticator>) -> Self {
        let provider = auth.issuers.iter().find_map(|issuer| {
            if !matches!(issuer.provider.as_str(), "oidc" | "cognito") {
                return None;
            }
            let client_id = issuer.audience.clone()?;
            let discovery_url = issuer.metadata_url.clone().or_else(|| {
                issuer
                    .issuer
                    .as_ref()
                    .map(|iss| format!("{}/.well-known/openid-configuration", iss.trim_end_matches('/')))
            })?;
            Some(Provider {
                name: issuer.provider.clone(),
                discovery_url,
                client_id,
                discovered: tokio::sync::Mutex::new(None),
            })
        });
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("an HTTP client with a timeout builds");
        Ui { auth_required: !auth.disable_default_policy, provider, authenticator, http }
    }

    /// The provider's endpoints, discovered once; a failure is tried again on the next request.
    async fn sign_in(&self) -> Result<Option<SignIn>, String> {
        let Some(provider) = &self.provider else { return Ok(None) };
        let mut discovered = provider.discovered.lock().await;
        if let Some(known) = discovered.as_ref() {
            return Ok(Some(known.clone()));
        }
        let url = &provider.discovery_url;
        let response =
            self.http.get(url).send().await.map_err(|e| format!("Cannot reach {url}: {}", e.without_url()))?;
        if !response.status().is_success() {
            return Err(format!("{url} answered {}", response.status()));
        }
        let document: Value = response.json().await.map_err(|e| format!("{url} did not answer JSON: {e}"))?;
        let endpoint = |name: &str| {
            document[name]
                .as_str()
                .filter(|value| reqwest::Url::parse(value).is_ok_and(|u| matches!(u.scheme(), "http" | "https")))
                .map(str::to_owned)
                .ok_or_else(|| format!("The discovery document at {url} names no usable {name}"))
        };
        let found = SignIn {
            provider: provider.name.clone(),
            authorization_endpoint: endpoint("authorization_endpoint")?,
            token_endpoint: endpoint("token_endpoint")?,
            client_id: provider.client_id.clone(),
        };
        *discovered = Some(found.clone());
        Ok(Some(found))
    }
}

/// `/`, `/ui/*` and `/api/scaffolder/v2/ui-config`.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>(ui: Arc<Ui>) -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/ui/{*file}", get(file))
        .route("/api/scaffolder/v2/ui-config", get(ui_config))
        .with_state(ui)
}

async fn index(State(ui): State<Arc<Ui>>, headers: HeaderMap) -> Response {
    // The page's own origin, plus the token endpoint the browser exchanges its code at.
    let token_origin = match ui.sign_in().await {
        Ok(Some(sign_in)) => reqwest::Url::parse(&sign_in.token_endpoint)
            .map(|url| format!(" {}", url.origin().ascii_serialization()))
            .unwrap_or_default(),
        _ => String::new(),
    };
    let policy = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'{token_origin}; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    let mut response = serve(0, &headers);
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().position(|asset| asset.name == name) {
        Some(index) => serve(index, &headers),
        None => ApiError::not_found(format!("No route for GET /ui/{name}")).into_response(),
    }
}

/// One asset, or `304` when the browser's copy is current.
fn serve(index: usize, headers: &HeaderMap) -> Response {
    let asset = &ASSETS[index];
    let etag = &ETAGS[index];
    let current = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag));
    let mut response = if current { StatusCode::NOT_MODIFIED.into_response() } else { asset.body.into_response() };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::ETAG, HeaderValue::from_str(etag).expect("hex in quotes"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // The sign-in code comes back in the page's URL: it must never leave in a Referer.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// `GET /v2/ui-config`, as the OpenAPI document describes it.
#[allow(dead_code)]
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = UiConfig)]
pub struct UiConfigAnswer {
    /// Whether the API wants credentials (`false` with the default policy disabled).
    pub auth_required: bool,
    /// `{provider, authorizationEndpoint, tokenEndpoint, clientId, scope}`: where the page sends
    /// users to sign in (authorization code + PKCE), or null.
    #[schema(value_type = Option<Object>)]
    pub sign_in: Option<Value>,
    /// Why the sign-in provider cannot be used right now (its discovery failed).
    pub sign_in_error: Option<String>,
    /// `{type: user, userEntityRef}`, `{type: service, subject}` or `{type: anonymous}`: whom the
    /// request's credentials name; null without (accepted) credentials.
    #[schema(value_type = Option<Object>)]
    pub identity: Option<Value>,
    /// Set when the request carried a token that was refused.
    pub identity_error: Option<String>,
}

/// What the built-in page needs before it can call the API: whether a sign-in is needed, how to
/// sign in, and (when the request carries credentials) whom they name. Needs no credentials.
#[utoipa::path(get, path = "/v2/ui-config", tag = "ui", security(()),
    responses((status = 200, body = UiConfigAnswer)))]
pub(crate) async fn ui_config(State(ui): State<Arc<Ui>>, headers: HeaderMap) -> Response {
    let mut answer = json!({"authRequired": ui.auth_required, "signIn": null, "identity": null});
    match ui.sign_in().await {
        Ok(Some(sign_in)) => {
            answer["signIn"] = json!({
                "provider": sign_in.provider,
                "authorizationEndpoint": sign_in.authorization_endpoint,
                "tokenEndpoint": sign_in.token_endpoint,
                "clientId": sign_in.client_id,
                "scope": "openid profile email",
            });
        }
        Ok(None) => {}
        Err(reason) => {
            tracing::warn!(%reason, "the sign-in provider's discovery document cannot be read");
            answer["signInError"] = json!(reason);
        }
    }
    let authorization = headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or("\u{0}"));
    match ui.authenticator.authenticate(authorization).await {
        Ok(Principal::User { entity_ref, .. }) => {
            answer["identity"] = json!({"type": "user", "userEntityRef": entity_ref});
        }
        Ok(Principal::Service { subject }) => answer["identity"] = json!({"type": "service", "subject": subject}),
        Ok(Principal::None) => answer["identity"] = json!({"type": "anonymous"}),
        // Only a refused token is worth telling; no token at all is the page's normal start.
        Err(error) if authorization.is_some() => {
            answer["identityError"] = json!(format!("The token was refused ({})", error.status()));
        }
        Err(_) => {}
    }
    let mut response = Json(answer).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
