//! The catalog over HTTP, for workers whose catalog runs in another process or on another host
//! (Backstage's `discovery.endpoints` for the `catalog` plugin): the same routes the Backstage
//! catalog client calls, with the user's token.

use std::time::Duration;

use actions::StepError;
use async_trait::async_trait;
use serde_json::{Value, json};
use templates::EntityRef;

/// Requests to the catalog give up after this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
pub struct HttpCatalog {
    /// The catalog plugin's base URL, e.g. `http://catalog.internal:7007/api/catalog`.
    base_url: String,
    client: reqwest::Client,
}

impl HttpCatalog {
    pub fn new(base_url: &str) -> Self {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("scaffolder/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("an HTTP client with a timeout builds");
        HttpCatalog { base_url: base_url.trim_end_matches('/').to_owned(), client }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn request(&self, method: reqwest::Method, path: &str, token: Option<&str>) -> reqwest::RequestBuilder {
        let request = self.client.request(method, format!("{}{path}", self.base_url));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }
}

/// A path segment, escaped.
fn segment(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>().replace('+', "%20")
}

/// The catalog's error envelope as a step error with the same name; anything else named by status.
async fn refusal(what: &str, response: reqwest::Response) -> StepError {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let name = body["error"]["name"].as_str().map(str::to_owned).unwrap_or_else(|| {
        match status.as_u16() {
            400 => "InputError",
            401 => "AuthenticationError",
            403 => "NotAllowedError",
            404 => "NotFoundError",
            409 => "ConflictError",
            _ => "Error",
        }
        .to_owned()
    });
    let message = body["error"]["message"].as_str().unwrap_or("no error message");
    StepError::new(&name, format!("{what}: the catalog answered {status}: {message}"))
}

#[async_trait]
impl actions::CatalogApi for HttpCatalog {
    async fn entity(&self, reference: &EntityRef, token: Option<&str>) -> Result<Option<Value>, String> {
        let path = format!(
            "/entities/by-name/{}/{}/{}",
            segment(&reference.kind),
            segment(&reference.namespace),
            segment(&reference.name)
        );
        let response = self
            .request(reqwest::Method::GET, &path, token)
            .send()
            .await
            .map_err(|e| format!("cannot reach the catalog at {}: {e}", self.base_url))?;
        match response.status().as_u16() {
            200 => response.json().await.map(Some).map_err(|e| format!("the catalog's answer is not JSON: {e}")),
            404 => Ok(None),
            _ => Err(refusal(&format!("Reading {reference}"), response).await.message),
        }
    }

    async fn add_location(&self, target: &str, dry_run: bool, token: Option<&str>) -> Result<Vec<Value>, StepError> {
        let path = if dry_run { "/locations?dryRun=true" } else { "/locations" };
        let response = self
            .request(reqwest::Method::POST, path, token)
            .json(&json!({"type": "url", "target": target}))
            .send()
            .await
            .map_err(|e| StepError::error(format!("cannot reach the catalog at {}: {e}", self.base_url)))?;
        if !response.status().is_success() {
            return Err(refusal(&format!("Registering {target}"), response).await);
        }
        let body: Value = response
            .json()
            .await
            .map_err(|e| StepError::error(format!("Registering {target}: the catalog's answer is not JSON: {e}")))?;
        Ok(body["entities"].as_array().cloned().unwrap_or_default())
    }
}
