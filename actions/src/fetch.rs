//! Where skeletons come from: the template's own directory (for templates registered from `file`
//! locations, and dry-runs), or HTTP(S) hosts that are configured integrations or listed in
//! `backend.reading.allow`. Redirects are followed only to hosts that are themselves allowed
//! (GHSA-q2x5-4xjx-c6p9), and downloads are bounded.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use templates::Integration;

use crate::action::StepError;
use crate::files::{Budget, copy_file, copy_tree, write_file};
use crate::github::{Github, GithubUrl};
use crate::workspace::resolve_safe_child_path;

/// Longest single download.
const MAX_DOWNLOAD: u64 = 64 << 20;
const MAX_REDIRECTS: usize = 5;

/// One `backend.reading.allow` entry: a host (`*.example.com` allowed) and optional path prefixes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadingAllow {
    pub host: String,
    pub paths: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub struct FetchConfig {
    pub integrations: Vec<Integration>,
    pub allow: Vec<ReadingAllow>,
}

/// What a `url` input refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A path inside the template's directory.
    Local(PathBuf),
    Remote(String),
}

#[derive(Debug)]
pub struct Fetcher {
    config: FetchConfig,
    client: reqwest::Client,
    /// Repository URLs on GitHub integrations are read through GitHub's API.
    github: Option<Arc<Github>>,
}

impl Fetcher {
    pub fn new(config: FetchConfig) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .user_agent("scaffolder")
            .build()
            .expect("an HTTP client with default TLS");
        Fetcher { config, client, github: None }
    }

    /// Reads files and directories of repositories on `github`'s hosts through its REST API, with
    /// the integration's credentials (or the action's `token` input).
    pub fn with_github(mut self, github: Arc<Github>) -> Self {
        self.github = Some(github);
        self
    }

    fn github_location(&self, url: &str) -> Option<(&Github, GithubUrl)> {
        let github = self.github.as_deref()?;
        github.parse_url(url).map(|location| (github, location))
    }

    pub fn integrations(&self) -> &[Integration] {
        &self.config.integrations
    }

    /// Backstage's rules: a relative `url` is read from the template's directory when the
    /// template came from a `file` location, else resolved against its URL; an absolute one is
    /// read as it is.
    pub fn resolve(&self, base_url: Option<&str>, fetch_url: &str) -> Result<Source, StepError> {
        if let Some((scheme, _)) = absolute_scheme(fetch_url) {
            if scheme != "http" && scheme != "https" {
                return Err(StepError::input(format!(
                    "Fetching {fetch_url} is not supported: only http and https URLs can be fetched"
                )));
            }
            return Ok(Source::Remote(fetch_url.to_owned()));
        }
        match base_url {
            Some(base) if base.starts_with("file://") => {
                let template_file = Path::new(&base["file://".len()..]);
                let directory = template_file.parent().unwrap_or(Path::new("/"));
                Ok(Source::Local(resolve_safe_child_path(directory, fetch_url)?))
            }
            Some(base) => {
                let joined = join_url(base, fetch_url)
                    .ok_or_else(|| StepError::input(format!("No integration found for location {base}")))?;
                Ok(Source::Remote(joined))
            }
            None => Err(StepError::input(format!(
                "Failed to fetch, template location could not be determined and the fetch URL is relative, {fetch_url}"
            ))),
        }
    }

    /// The directory a local source names (checked to be one), or `None` for a remote source.
    pub fn local_tree<'s>(&self, source: &'s Source) -> Result<Option<&'s Path>, StepError> {
        match source {
            Source::Local(path) => {
                let metadata = std::fs::metadata(path).map_err(|e| crate::files::io_error(e, path))?;
                if !metadata.is_dir() {
                    return Err(StepError::input(format!("{} is not a directory", path.display())));
                }
                Ok(Some(path))
            }
            Source::Remote(_) => Ok(None),
        }
    }

    /// Copies a directory tree into `target`.
    pub async fn fetch_tree(
        &self,
        source: &Source,
        target: &Path,
        budget: &Budget,
        token: Option<&str>,
    ) -> Result<Vec<String>, StepError> {
        match source {
            Source::Local(path) => {
                self.local_tree(source)?;
                crate::files::blocking(|| copy_tree(path, target, budget))
            }
            Source::Remote(url) => {
                self.check_allowed(url)?;
                let Some((github, location)) = self.github_location(url) else {
                    return Err(StepError::new(
                        "NotImplementedError",
                        format!(
                            "Reading the directory {url} needs an integration that can list it; plain HTTP hosts serve single files only"
                        ),
                    ));
                };
                github.read_tree(&location, target, budget, token).await
            }
        }
    }

    /// Copies one file to `target` (parents created).
    pub async fn fetch_file(
        &self,
        source: &Source,
        target: &Path,
        budget: &Budget,
        token: Option<&str>,
    ) -> Result<(), StepError> {
        match source {
            Source::Local(path) => copy_file(path, target, budget),
            Source::Remote(_) => {
                let bytes = self.read(source, budget.limits().max_bytes.min(MAX_DOWNLOAD), token).await?;
                write_file(target, &bytes, None, budget)
            }
        }
    }

    /// The contents of one file.
    pub async fn read(&self, source: &Source, limit: u64, token: Option<&str>) -> Result<Vec<u8>, StepError> {
        match source {
            Source::Local(path) => {
                let metadata = std::fs::metadata(path).map_err(|e| crate::files::io_error(e, path))?;
                if metadata.len() > limit {
                    return Err(StepError::error(format!("{} is larger than {limit} bytes", path.display())));
                }
                std::fs::read(path).map_err(|e| crate::files::io_error(e, path))
            }
            Source::Remote(url) => match self.github_location(url) {
                Some((github, location)) => github.read_file(&location, limit.min(MAX_DOWNLOAD), token).await,
                None => self.download(url, limit.min(MAX_DOWNLOAD), token).await,
            },
        }
    }

    /// Whether `url` may be read; `Ok(true)` when its host is an integration.
    fn check_allowed(&self, url: &str) -> Result<bool, StepError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| StepError::input(format!("Invalid URL {url}: {e}")))?;
        let host = parsed.host_str().unwrap_or_default().to_lowercase();
        let host_port = match parsed.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.clone(),
        };
        let integration = self
            .config
            .integrations
            .iter()
            .any(|i| i.host.eq_ignore_ascii_case(&host) || i.host.eq_ignore_ascii_case(&host_port));
        let listed = self.config.allow.iter().any(|rule| {
            let pattern = rule.host.to_lowercase();
            let host_matches = match pattern.strip_prefix("*.") {
                Some(suffix) => host.ends_with(&format!(".{suffix}")),
                None => pattern == host || pattern == host_port,
            };
            host_matches && (rule.paths.is_empty() || rule.paths.iter().any(|p| parsed.path().starts_with(p.as_str())))
        });
        if integration || listed {
            Ok(integration)
        } else {
            Err(StepError::not_allowed(format!(
                "Reading from '{url}' is not allowed. You may need to configure an integration for the target host, or add it to the configured list of allowed hosts at 'backend.reading.allow'"
            )))
        }
    }

    /// GETs `url`; `token` is sent only to integration hosts, never to other allowed hosts.
    async fn download(&self, url: &str, limit: u64, token: Option<&str>) -> Result<Vec<u8>, StepError> {
        let mut current = url.to_owned();
        for _ in 0..=MAX_REDIRECTS {
            let integration = self.check_allowed(&current)?;
            let mut request = self.client.get(&current);
            if let (Some(token), true) = (token, integration) {
                request = request.bearer_auth(token);
            }
            let response = request
                .send()
                .await
                .map_err(|e| StepError::error(format!("Could not read {current}: {}", without_url(&e))))?;
            let status = response.status();
            if status.is_redirection() {
                let location =
                    response.headers().get(reqwest::header::LOCATION).and_then(|l| l.to_str().ok()).ok_or_else(
                        || StepError::error(format!("Could not read {current}: redirect without a location")),
                    )?;
                let next = reqwest::Url::parse(&current)
                    .and_then(|base| base.join(location))
                    .map_err(|e| StepError::error(format!("Could not read {current}: bad redirect: {e}")))?;
                current = next.to_string();
                continue;
            }
            if status == reqwest::StatusCode::NOT_FOUND {
                return Err(StepError::not_found(format!("could not read {current}, 404 Not Found")));
            }
            if !status.is_success() {
                return Err(StepError::error(format!("could not read {current}, {status}")));
            }
            if response.content_length().is_some_and(|len| len > limit) {
                return Err(StepError::error(format!("{current} is larger than {limit} bytes")));
            }
            let mut response = response;
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| StepError::error(format!("Could not read {current}: {}", without_url(&e))))?
            {
                body.extend_from_slice(&chunk);
                if body.len() as u64 > limit {
                    return Err(StepError::error(format!("{current} is larger than {limit} bytes")));
                }
            }
            return Ok(body);
        }
        Err(StepError::error(format!("Could not read {url}: more than {MAX_REDIRECTS} redirects")))
    }
}

fn without_url(error: &reqwest::Error) -> String {
    let mut error = error.to_string();
    if let Some(cut) = error.find(" for url") {
        error.truncate(cut);
    }
    error
}

/// `scheme` when `text` is an absolute URL (`scheme:...`), as `new URL()` would accept it.
fn absolute_scheme(text: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = text.split_once(':')?;
    let valid = scheme.len() > 1
        && scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some((scheme, rest))
}

/// Resolves `relative` against the URL `base` (a template's `baseUrl`).
fn join_url(base: &str, relative: &str) -> Option<String> {
    reqwest::Url::parse(base).ok()?.join(relative).ok().map(|u| u.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetcher() -> Fetcher {
        Fetcher::new(FetchConfig {
            integrations: Integration::defaults(),
            allow: vec![ReadingAllow { host: "*.example.com".to_owned(), paths: Vec::new() }],
        })
    }

    #[test]
    fn resolves_like_backstage() {
        let f = fetcher();
        let dir = tempfile::tempdir().unwrap();
        let base = format!("file://{}/template.yaml", dir.path().display());
        assert_eq!(f.resolve(Some(&base), "./skeleton").unwrap(), Source::Local(dir.path().join("skeleton")));
        assert_eq!(f.resolve(Some(&base), "../escape").unwrap_err().name, "NotAllowedError");
        assert_eq!(f.resolve(Some(&base), "file:///etc/passwd").unwrap_err().name, "InputError");
        assert_eq!(
            f.resolve(None, "./x").unwrap_err().message,
            "Failed to fetch, template location could not be determined and the fetch URL is relative, ./x"
        );
        assert_eq!(
            f.resolve(Some("https://github.com/o/r/blob/main/template.yaml"), "./skeleton").unwrap(),
            Source::Remote("https://github.com/o/r/blob/main/skeleton".to_owned())
        );
        assert_eq!(
            f.resolve(None, "https://cdn.example.com/a.txt").unwrap(),
            Source::Remote("https://cdn.example.com/a.txt".to_owned())
        );
    }

    #[test]
    fn only_allowed_hosts_are_read() {
        let f = fetcher();
        assert!(f.check_allowed("https://github.com/o/r").is_ok());
        assert!(f.check_allowed("https://files.example.com/x").is_ok());
        assert_eq!(f.check_allowed("http://169.254.169.254/latest/meta-data").unwrap_err().name, "NotAllowedError");
        assert!(f.check_allowed("http://example.com.evil.net/").is_err());
    }
}
