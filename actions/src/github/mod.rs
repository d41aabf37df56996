//! GitHub: the configured integrations (`integrations.github[]`), the credentials each request
//! uses, the REST client and git pushes. The actions (`publish:github`, `github:repo:create`,
//! `github:repo:push`, `publish:github:pull-request`) are built from these parts.
//!
//! Layout: `client` (REST over octocrab, rate limits, error wording), `git` (a commit of a
//! directory, pushed with git2), `repo` (creating, configuring and protecting repositories,
//! safely across retries), `tree` (a directory of a repository, from its tarball), this file (configuration and credentials).
//!
//! Invariant: a token never appears in an event, a log line, an error or a saved row; it lives in
//! the octocrab client and in git2's credential callback only.

pub(crate) mod client;
pub(crate) mod git;
pub mod repo;
pub(crate) mod schemas;
mod tree;

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

pub use client::{GithubClient, Reply, RetryPolicy};

use crate::action::StepError;

/// One `integrations.github[]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GithubIntegration {
    /// `github.com` or a GitHub Enterprise host (with a port, if it has one).
    pub host: String,
    /// `https://api.github.com` for github.com; `https://<host>/api/v3` for Enterprise.
    pub api_base_url: String,
    pub token: Option<Secret>,
    pub apps: Vec<GithubApp>,
}

impl GithubIntegration {
    /// Backstage's defaults for a host configured without `apiBaseUrl`.
    pub fn for_host(host: &str) -> Self {
        let api_base_url =
            if host == "github.com" { "https://api.github.com".to_owned() } else { format!("https://{host}/api/v3") };
        GithubIntegration { host: host.to_owned(), api_base_url, token: None, apps: Vec::new() }
    }
}

/// A GitHub App that mints installation tokens (`integrations.github[].apps[]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GithubApp {
    pub app_id: u64,
    /// RSA private key, PEM.
    pub private_key: Secret,
    /// `allowedInstallationOwners`: when set, the app is used for these owners only.
    pub allowed_installation_owners: Vec<String>,
}

impl GithubApp {
    /// The key, checked (configuration reads call this at start-up).
    pub fn encoding_key(&self) -> Result<jsonwebtoken::EncodingKey, String> {
        // Keys pasted into YAML or environment variables often carry literal `\n`.
        let pem = self.private_key.expose().replace("\\n", "\n");
        jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|e| format!("privateKey of app {} is not an RSA private key in PEM form: {e}", self.app_id))
    }
}

/// A credential that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// What a request to one repository authenticates with.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub host: String,
    pub api_base_url: String,
    pub token: Secret,
    /// `token` (an integration or caller token) or `app` (an installation token).
    pub kind: &'static str,
}

/// (API base URL, app id, owner): whose installation token it is.
type InstallationKey = (String, u64, String);

/// The configured GitHub integrations and the installation tokens minted so far (each with the
/// moment to stop using it).
#[derive(Debug)]
pub struct Github {
    integrations: Vec<GithubIntegration>,
    retry: RetryPolicy,
    installation_tokens: tokio::sync::Mutex<HashMap<InstallationKey, (Secret, Instant)>>,
}

impl Default for Github {
    fn default() -> Self {
        Github::new(Vec::new(), RetryPolicy::default())
    }
}

impl Github {
    /// `github.com` is always known, as in Backstage, even when not configured.
    pub fn new(mut integrations: Vec<GithubIntegration>, retry: RetryPolicy) -> Self {
        if !integrations.iter().any(|i| i.host == "github.com") {
            integrations.push(GithubIntegration::for_host("github.com"));
        }
        Github { integrations, retry, installation_tokens: tokio::sync::Mutex::new(HashMap::new()) }
    }

    pub fn retry(&self) -> RetryPolicy {
        self.retry
    }

    pub fn integration(&self, host: &str) -> Option<&GithubIntegration> {
        self.integrations.iter().find(|i| i.host.eq_ignore_ascii_case(host))
    }

    /// Backstage's order: the caller's `token` input; else an installation token of a GitHub App
    /// installed for `owner`; else the integration's token.
    pub async fn credentials(
        &self,
        host: &str,
        owner: &str,
        repo: &str,
        input_token: Option<&str>,
    ) -> Result<Credentials, StepError> {
        let integration =
            self.integration(host).ok_or_else(|| StepError::input(format!("No integration for host {host}")))?;
        let credentials = |token: Secret, kind| Credentials {
            host: integration.host.clone(),
            api_base_url: integration.api_base_url.clone(),
            token,
            kind,
        };
        if let Some(token) = input_token.filter(|t| !t.is_empty()) {
            return Ok(credentials(Secret::new(token), "token"));
        }
        for app in &integration.apps {
            if !app.allowed_installation_owners.is_empty()
                && !app.allowed_installation_owners.iter().any(|o| o.eq_ignore_ascii_case(owner))
            {
                continue;
            }
            if let Some(token) = self.installation_token(integration, app, owner).await? {
                return Ok(credentials(token, "app"));
            }
        }
        if let Some(token) = &integration.token {
            return Ok(credentials(token.clone(), "token"));
        }
        Err(StepError::input(format!("No token available for host: {host}, with owner {owner}, and repo {repo}")))
    }

    pub fn client(&self, credentials: &Credentials) -> Result<GithubClient, StepError> {
        GithubClient::with_token(&credentials.api_base_url, credentials.token.expose(), self.retry)
    }

    /// A token of `app`'s installation for `owner` (cached until ten minutes before it expires);
    /// `None` when the app is not installed there.
    async fn installation_token(
        &self,
        integration: &GithubIntegration,
        app: &GithubApp,
        owner: &str,
    ) -> Result<Option<Secret>, StepError> {
        let key = (integration.api_base_url.clone(), app.app_id, owner.to_lowercase());
        let mut cache = self.installation_tokens.lock().await;
        if let Some((token, until)) = cache.get(&key)
            && Instant::now() < *until
        {
            return Ok(Some(token.clone()));
        }
        let encoding_key = app.encoding_key().map_err(StepError::input)?;
        let client = GithubClient::as_app(&integration.api_base_url, app.app_id, encoding_key, self.retry)?;
        let Some(installation) = find_installation(&client, owner).await? else {
            return Ok(None);
        };
        let minted = client
            .post(&format!("/app/installations/{installation}/access_tokens"), &json!({}))
            .await?
            .into_result(&format!("Minting a token of GitHub App {} for {owner}", app.app_id))?;
        let token = minted["token"].as_str().ok_or_else(|| {
            StepError::error(format!("GitHub minted no token for app {} and owner {owner}", app.app_id))
        })?;
        let lifetime = minted["expires_at"]
            .as_str()
            .and_then(parse_rfc3339)
            .map(|expires| Duration::from_secs(expires.saturating_sub(unix_now())))
            .unwrap_or(Duration::from_secs(3600));
        let until = Instant::now() + lifetime.saturating_sub(Duration::from_secs(600));
        let token = Secret::new(token);
        cache.insert(key, (token.clone(), until));
        Ok(Some(token))
    }
}

/// A file or directory of a repository on a configured GitHub host:
/// `https://<host>/<owner>/<repo>/blob|tree/<ref>/<path>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GithubUrl {
    pub host: String,
    pub owner: String,
    pub repo: String,
    pub reference: String,
    pub path: String,
}

impl Github {
    /// The repository location `url` names, if it is on a configured GitHub host.
    pub fn parse_url(&self, url: &str) -> Option<GithubUrl> {
        let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let mut parts = rest.split('/');
        let host = parts.next()?;
        self.integration(host)?;
        let owner = parts.next().filter(|s| !s.is_empty())?;
        let repo = parts.next().filter(|s| !s.is_empty())?.trim_end_matches(".git");
        let (reference, path) = match parts.next() {
            Some("blob" | "tree" | "raw") => {
                let reference = parts.next().filter(|s| !s.is_empty())?;
                (reference.to_owned(), parts.filter(|s| !s.is_empty()).collect::<Vec<_>>().join("/"))
            }
            None | Some("") => ("HEAD".to_owned(), String::new()),
            Some(_) => return None,
        };
        Some(GithubUrl { host: host.to_owned(), owner: owner.to_owned(), repo: repo.to_owned(), reference, path })
    }

    /// Where and as whom to read `location`: the API base and a token when one is available,
    /// none otherwise (public repositories are readable anonymously).
    pub(crate) async fn read_access(
        &self,
        location: &GithubUrl,
        token: Option<&str>,
    ) -> Result<(String, Option<Secret>), StepError> {
        match self.credentials(&location.host, &location.owner, &location.repo, token).await {
            Ok(credentials) => Ok((credentials.api_base_url, Some(credentials.token))),
            Err(error) if error.message.starts_with("No token available") => {
                Ok((self.integration(&location.host).expect("parse_url checked the host").api_base_url.clone(), None))
            }
            Err(error) => Err(error),
        }
    }

    /// A client for reading `location`.
    async fn reader(&self, location: &GithubUrl, token: Option<&str>) -> Result<GithubClient, StepError> {
        match self.read_access(location, token).await? {
            (api, Some(token)) => GithubClient::with_token(&api, token.expose(), self.retry),
            (api, None) => GithubClient::anonymous(&api, self.retry),
        }
    }

    /// One file's contents, at most `limit` bytes; `token` (a user's) wins over the integration's.
    pub async fn read_file(&self, location: &GithubUrl, limit: u64, token: Option<&str>) -> Result<Vec<u8>, StepError> {
        use base64::Engine;
        let client = self.reader(location, token).await?;
        let what =
            format!("Reading {} from {}/{}@{}", location.path, location.owner, location.repo, location.reference);
        let reply = client
            .get(&format!(
                "/repos/{}/{}/contents/{}?ref={}",
                location.owner, location.repo, location.path, location.reference
            ))
            .await?;
        let body = reply.into_result(&what)?;
        if body["type"] != "file" {
            return Err(StepError::input(format!(
                "{what}: it is a {}, not a file",
                body["type"].as_str().unwrap_or("directory")
            )));
        }
        if body["size"].as_u64().is_some_and(|size| size > limit) {
            return Err(StepError::error(format!("{what}: it is larger than {limit} bytes")));
        }
        let encoded: String =
            body["content"].as_str().unwrap_or_default().chars().filter(|c| !c.is_whitespace()).collect();
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| StepError::error(format!("{what}: GitHub's content is not base64: {e}")))
    }
}

/// The installation of the authenticated app whose account is `owner`.
async fn find_installation(client: &GithubClient, owner: &str) -> Result<Option<u64>, StepError> {
    for page in 1..=20 {
        let listed = client
            .get(&format!("/app/installations?per_page=100&page={page}"))
            .await?
            .into_result("Listing the GitHub App's installations")?;
        let Some(installations) = listed.as_array() else { return Ok(None) };
        if let Some(found) = installations
            .iter()
            .find(|i| i["account"]["login"].as_str().is_some_and(|login| login.eq_ignore_ascii_case(owner)))
        {
            return Ok(found["id"].as_u64());
        }
        if installations.len() < 100 {
            break;
        }
    }
    Ok(None)
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

/// `2026-11-22T10:00:00Z` (GitHub's timestamps) as Unix seconds.
pub(crate) fn parse_rfc3339(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || bytes[4] != b'-' || bytes[7] != b'-' || bytes[10] != b'T' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let offset = match &text[19..] {
        "Z" | "z" => 0,
        rest => {
            let rest = rest.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
            if rest == "Z" {
                0
            } else {
                let sign = if rest.starts_with('-') { -1 } else { 1 };
                let hours: i64 = rest.get(1..3)?.parse().ok()?;
                let minutes: i64 = rest.get(4..6)?.parse().ok()?;
                sign * (hours * 3600 + minutes * 60)
            }
        }
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m) = if month <= 2 { (year - 1, month + 9) } else { (year, month - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    u64::try_from(seconds).ok()
}

/// `owner/repo` as GitHub writes it in a repository's JSON.
pub(crate) fn full_name(repository: &Value) -> String {
    repository["full_name"].as_str().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2026-11-22T10:00:00Z"), Some(1_795_341_600));
        assert_eq!(parse_rfc3339("2026-11-22T11:00:00+01:00"), Some(1_795_341_600));
        assert_eq!(parse_rfc3339("2026-11-22T10:00:00.123Z"), Some(1_795_341_600));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[tokio::test]
    async fn credentials_follow_backstages_order() {
        let github = Github::new(
            vec![GithubIntegration {
                token: Some(Secret::new("integration-token")),
                ..GithubIntegration::for_host("ghe.example.com")
            }],
            RetryPolicy::default(),
        );
        let from_input = github.credentials("ghe.example.com", "acme", "app", Some("user-token")).await.unwrap();
        assert_eq!(from_input.token.expose(), "user-token");
        let from_config = github.credentials("ghe.example.com", "acme", "app", None).await.unwrap();
        assert_eq!(
            (from_config.token.expose(), from_config.api_base_url.as_str()),
            ("integration-token", "https://ghe.example.com/api/v3")
        );
        let none = github.credentials("github.com", "acme", "app", None).await.unwrap_err();
        assert_eq!(none.message, "No token available for host: github.com, with owner acme, and repo app");
        let unknown = github.credentials("gitlab.com", "acme", "app", Some("t")).await.unwrap_err();
        assert_eq!(
            (unknown.name.as_str(), unknown.message.as_str()),
            ("InputError", "No integration for host gitlab.com")
        );
        assert_eq!(format!("{:?}", from_config.token), "Secret(***)");
    }
}
