//! GitHub's REST API over octocrab: JSON in and out, rate limits waited out (bounded, with
//! jitter), and every refusal turned into a step error that says what was refused and why.
//! Tokens live inside octocrab and never appear in an error.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::Method;
use http_body_util::BodyExt;
use octocrab::Octocrab;
use serde_json::Value;

use crate::action::StepError;

/// How rate-limited and failing requests are retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The longest single wait; a rate limit that resets later fails the step at once.
    pub max_wait: Duration,
    /// The first back-off when GitHub gives no hint (doubled each time).
    pub base: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { attempts: 4, max_wait: Duration::from_secs(60), base: Duration::from_secs(1) }
    }
}

/// A response: status and JSON body (`null` when empty or not JSON).
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// GitHub's `message`, with the details of `errors[]` when there are any.
    pub fn message(&self) -> String {
        let mut message = self.body["message"].as_str().unwrap_or("no message").to_owned();
        if let Some(errors) = self.body["errors"].as_array() {
            let details: Vec<String> = errors
                .iter()
                .map(|e| match e {
                    Value::String(s) => s.clone(),
                    _ => e["message"].as_str().map(str::to_owned).unwrap_or_else(|| {
                        let field = e["field"].as_str().unwrap_or_default();
                        let code = e["code"].as_str().unwrap_or_default();
                        format!("{field} {code}").trim().to_owned()
                    }),
                })
                .filter(|d| !d.is_empty())
                .collect();
            if !details.is_empty() {
                message = format!("{message}: {}", details.join("; "));
            }
        }
        message
    }

    /// The body when the status is 2xx; otherwise a step error naming `what` and GitHub's reason.
    pub fn into_result(self, what: &str) -> Result<Value, StepError> {
        if self.is_success() { Ok(self.body) } else { Err(self.error(what)) }
    }

    pub fn error(&self, what: &str) -> StepError {
        let name = match self.status {
            401 => "AuthenticationError",
            403 => "NotAllowedError",
            404 => "NotFoundError",
            409 => "ConflictError",
            422 => "InputError",
            _ => "Error",
        };
        let hint = match self.status {
            401 => " (the token was refused: check that it is valid and not expired)",
            403 => " (the token lacks a permission or scope this needs)",
            404 => " (it does not exist, or the token cannot see it)",
            _ => "",
        };
        StepError::new(name, format!("{what}: GitHub answered {} {}{hint}", self.status, self.message()))
    }
}

#[derive(Clone, Debug)]
pub struct GithubClient {
    octocrab: Octocrab,
    /// The API's base URL, for messages.
    api: String,
    retry: RetryPolicy,
}

impl GithubClient {
    /// A client authenticated with `token`.
    pub fn with_token(api_base_url: &str, token: &str, retry: RetryPolicy) -> Result<Self, StepError> {
        // octocrab panics on a token that cannot be a header value; a `token` input can be anything.
        if http::HeaderValue::from_str(&format!("Bearer {token}")).is_err() {
            return Err(StepError::input(
                "The GitHub token cannot be sent: it contains characters not allowed in an HTTP header (a line break?)",
            ));
        }
        let octocrab = Octocrab::builder()
            .base_uri(api_base_url)
            .map_err(|e| bad_url(api_base_url, &e))?
            .add_header(http::header::ACCEPT, "application/vnd.github+json".to_owned())
            .set_connect_timeout(Some(Duration::from_secs(15)))
            .set_read_timeout(Some(Duration::from_secs(60)))
            .personal_token(token.to_owned())
            .build()
            .map_err(|e| build_failed(api_base_url, &e))?;
        Ok(GithubClient { octocrab, api: api_base_url.trim_end_matches('/').to_owned(), retry })
    }

    /// A client without credentials (public repositories only).
    pub fn anonymous(api_base_url: &str, retry: RetryPolicy) -> Result<Self, StepError> {
        let octocrab = Octocrab::builder()
            .base_uri(api_base_url)
            .map_err(|e| bad_url(api_base_url, &e))?
            .add_header(http::header::ACCEPT, "application/vnd.github+json".to_owned())
            .set_connect_timeout(Some(Duration::from_secs(15)))
            .set_read_timeout(Some(Duration::from_secs(60)))
            .build()
            .map_err(|e| build_failed(api_base_url, &e))?;
        Ok(GithubClient { octocrab, api: api_base_url.trim_end_matches('/').to_owned(), retry })
    }

    /// A client authenticated as a GitHub App (a JWT per request), for minting installation
    /// tokens.
    pub fn as_app(
        api_base_url: &str,
        app_id: u64,
        key: jsonwebtoken::EncodingKey,
        retry: RetryPolicy,
    ) -> Result<Self, StepError> {
        let octocrab = Octocrab::builder()
            .base_uri(api_base_url)
            .map_err(|e| bad_url(api_base_url, &e))?
            .add_header(http::header::ACCEPT, "application/vnd.github+json".to_owned())
            .set_connect_timeout(Some(Duration::from_secs(15)))
            .set_read_timeout(Some(Duration::from_secs(60)))
            .app(octocrab::models::AppId(app_id), key)
            .build()
            .map_err(|e| build_failed(api_base_url, &e))?;
        Ok(GithubClient { octocrab, api: api_base_url.trim_end_matches('/').to_owned(), retry })
    }

    pub async fn get(&self, path: &str) -> Result<Reply, StepError> {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Reply, StepError> {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Result<Reply, StepError> {
        self.send(Method::PUT, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Result<Reply, StepError> {
        self.send(Method::PATCH, path, Some(body)).await
    }

    /// Sends a request, waiting out rate limits and retrying server errors of idempotent
    /// requests; any final status is returned as a [`Reply`].
    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Reply, StepError> {
        let idempotent = matches!(method, Method::GET | Method::HEAD | Method::PUT | Method::DELETE);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= self.retry.attempts;
            let outcome = self.send_once(&method, path, body).await;
            let wait = match &outcome {
                Ok((reply, headers)) => match rate_limit_wait(reply, headers) {
                    Some(RateLimit::Wait(wait)) => Some(wait),
                    Some(RateLimit::Until(reset)) => {
                        return Err(StepError::new(
                            "RateLimitError",
                            format!(
                                "{} {path}: the GitHub rate limit for {} is used up until {}; try again then (GitHub answered {} {})",
                                method,
                                self.api,
                                describe_epoch(reset),
                                reply.status,
                                reply.message()
                            ),
                        ));
                    }
                    None if idempotent && matches!(reply.status, 500 | 502 | 503 | 504) => Some(Duration::ZERO),
                    None => return outcome.map(|(reply, _)| reply),
                },
                Err(_) if idempotent => Some(Duration::ZERO),
                Err(_) => return outcome.map(|(reply, _)| reply),
            };
            if last {
                return match outcome {
                    Ok((reply, _)) if reply.status == 429 || reply.status == 403 => Err(StepError::new(
                        "RateLimitError",
                        format!(
                            "{} {path}: still rate limited by GitHub after {attempt} attempts ({} {})",
                            method,
                            reply.status,
                            reply.message()
                        ),
                    )),
                    other => other.map(|(reply, _)| reply),
                };
            }
            let backoff = self.retry.base * 2u32.saturating_pow(attempt - 1);
            let wait = wait.filter(|w| !w.is_zero()).unwrap_or(backoff).min(self.retry.max_wait);
            let jitter = wait.mul_f64(fastrand::f64() * 0.25);
            tracing::info!(%method, path, attempt, wait_ms = (wait + jitter).as_millis() as u64, "retrying a GitHub request");
            tokio::time::sleep(wait + jitter).await;
        }
    }

    async fn send_once(
        &self,
        method: &Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(Reply, http::HeaderMap), StepError> {
        let request = http::Request::builder().method(method.clone()).uri(path);
        let request = self
            .octocrab
            .build_request(request, body)
            .map_err(|e| StepError::error(format!("{method} {path}: could not build the request: {e}")))?;
        let response =
            self.octocrab.execute(request).await.map_err(|e| {
                StepError::error(format!("{method} {} failed: {}", self.url(path), transport_reason(&e)))
            })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| StepError::error(format!("{method} {}: reading the answer failed: {e}", self.url(path))))?
            .to_bytes();
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        Ok((Reply { status, body }, headers))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api)
    }
}

fn bad_url(url: &str, error: &dyn std::fmt::Display) -> StepError {
    StepError::input(format!("The GitHub API URL {url} is not usable: {error}"))
}

fn build_failed(url: &str, error: &dyn std::fmt::Display) -> StepError {
    StepError::error(format!("Could not set up the GitHub client for {url}: {error}"))
}

/// octocrab's transport errors, without anything secret (they never carry the token).
fn transport_reason(error: &octocrab::Error) -> String {
    let text = error.to_string();
    if text.is_empty() { "the connection failed".to_owned() } else { text }
}

enum RateLimit {
    Wait(Duration),
    /// Exhausted until this Unix time.
    Until(u64),
}

/// Whether `reply` is a rate limit, and how long GitHub asks to wait.
fn rate_limit_wait(reply: &Reply, headers: &http::HeaderMap) -> Option<RateLimit> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let message = reply.body["message"].as_str().unwrap_or_default().to_lowercase();
    let limited = reply.status == 429
        || (reply.status == 403
            && (header("x-ratelimit-remaining") == Some("0")
                || message.contains("rate limit")
                || header("retry-after").is_some()));
    if !limited {
        return None;
    }
    if let Some(seconds) = header("retry-after").and_then(|s| s.parse::<u64>().ok()) {
        return Some(RateLimit::Wait(Duration::from_secs(seconds)));
    }
    if let Some(reset) = header("x-ratelimit-reset").and_then(|s| s.parse::<u64>().ok()) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let wait = Duration::from_secs(reset.saturating_sub(now) + 1);
        return Some(if wait > Duration::from_secs(15 * 60) { RateLimit::Until(reset) } else { RateLimit::Wait(wait) });
    }
    // Secondary limits without a hint: back off.
    Some(RateLimit::Wait(Duration::ZERO))
}

fn describe_epoch(epoch: u64) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    format!("{} minutes from now (Unix time {epoch})", epoch.saturating_sub(now).div_ceil(60))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn errors_say_what_and_why() {
        let reply = Reply {
            status: 422,
            body: json!({"message": "Repository creation failed.", "errors": [{"resource": "Repository", "code": "custom", "field": "name", "message": "name already exists on this account"}]}),
        };
        let error = reply.error("Creating repository acme/app");
        assert_eq!(error.name, "InputError");
        assert_eq!(
            error.message,
            "Creating repository acme/app: GitHub answered 422 Repository creation failed.: name already exists on this account"
        );
        let unauthorized =
            Reply { status: 401, body: json!({"message": "Bad credentials"}) }.error("Reading user acme");
        assert_eq!(unauthorized.name, "AuthenticationError");
        assert!(unauthorized.message.contains("401 Bad credentials (the token was refused"));
    }

    #[test]
    fn rate_limits_are_recognised() {
        let mut headers = http::HeaderMap::new();
        let limited = Reply { status: 403, body: json!({"message": "API rate limit exceeded for user ID 1."}) };
        headers.insert("retry-after", "3".parse().unwrap());
        assert!(matches!(rate_limit_wait(&limited, &headers), Some(RateLimit::Wait(w)) if w == Duration::from_secs(3)));
        let mut headers = http::HeaderMap::new();
        headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
        let far = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 3600;
        headers.insert("x-ratelimit-reset", far.to_string().parse().unwrap());
        assert!(matches!(rate_limit_wait(&limited, &headers), Some(RateLimit::Until(_))));
        let forbidden = Reply { status: 403, body: json!({"message": "Resource not accessible by integration"}) };
        assert!(rate_limit_wait(&forbidden, &http::HeaderMap::new()).is_none());
    }
}
