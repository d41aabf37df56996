//! Reading a directory of a repository (`https://<host>/<owner>/<repo>/tree/<ref>/<path>`), as
//! Backstage's GitHub URL reader does: one tarball of the reference from the REST API, of which
//! only `<path>` is unpacked, into a scratch directory, then copied into the workspace with the
//! same rules as a local skeleton (budget, links that stay inside).
//!
//! Invariant: nothing in the archive is written outside the scratch directory (`tar` refuses
//! `..` and absolute names), and unpacking stops at the workspace's byte budget.

use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use crate::action::StepError;
use crate::files::{Budget, WorkspaceLimits, copy_tree};
use crate::github::client::Reply;
use crate::github::{Github, GithubUrl};

/// The largest archive downloaded (compressed).
const MAX_ARCHIVE: u64 = 256 << 20;

impl Github {
    /// Copies the directory `location` names into `target`; returns the links that were skipped
    /// because they point outside it.
    pub async fn read_tree(
        &self,
        location: &GithubUrl,
        target: &Path,
        budget: &Budget,
        token: Option<&str>,
    ) -> Result<Vec<String>, StepError> {
        let what = format!(
            "Reading the directory {} of {}/{}@{}",
            if location.path.is_empty() { "/" } else { &location.path },
            location.owner,
            location.repo,
            location.reference
        );
        let (api, token) = self.read_access(location, token).await?;
        let reference = match location.reference.as_str() {
            "HEAD" => String::new(),
            other => format!("/{other}"),
        };
        let url =
            format!("{}/repos/{}/{}/tarball{reference}", api.trim_end_matches('/'), location.owner, location.repo);
        let archive = download(&url, token.as_ref().map(|t| t.expose()), &what, budget).await?;
        let scratch =
            tempfile::tempdir().map_err(|e| StepError::error(format!("{what}: no scratch directory: {e}")))?;
        let prefix = location.path.trim_matches('/').to_owned();
        let limits = budget.limits();
        let unpacked = {
            let scratch = scratch.path().to_path_buf();
            let what = what.clone();
            tokio::task::spawn_blocking(move || unpack(&archive, &scratch, &prefix, limits, &what))
                .await
                .map_err(|e| StepError::error(format!("unpacking stopped: {e}")))??
        };
        let Some(root) = unpacked else {
            return Err(StepError::not_found(format!("{what}: there is no such directory in the repository")));
        };
        // As for a local skeleton: links that leave the directory are skipped.
        let skipped = crate::files::blocking(|| copy_tree(&root, target, budget));
        drop(scratch);
        skipped
    }
}

async fn download(url: &str, token: Option<&str>, what: &str, budget: &Budget) -> Result<Vec<u8>, StepError> {
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(300))
        .user_agent("scaffolder")
        .build()
        .map_err(|e| StepError::error(format!("{what}: {e}")))?;
    // GitHub answers with a redirect to a signed archive URL; reqwest drops the token when
    // following it to another host.
    let mut request = client.get(url).header("accept", "application/vnd.github+json");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let mut response = request
        .send()
        .await
        .map_err(|e| StepError::error(format!("{what}: GitHub could not be reached: {}", e.without_url())))?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        let body = response.json().await.unwrap_or(serde_json::Value::Null);
        return Err(Reply { status, body }.error(what));
    }
    let limit = budget.limits().max_bytes.min(MAX_ARCHIVE);
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| StepError::error(format!("{what}: the download broke off: {}", e.without_url())))?
    {
        bytes.extend_from_slice(&chunk);
        if bytes.len() as u64 > limit {
            return Err(StepError::error(format!("{what}: the repository archive is larger than {limit} bytes")));
        }
    }
    Ok(bytes)
}

/// Unpacks the entries under `prefix` (below the archive's single top directory) into `scratch`.
/// Returns the directory that holds them, or `None` when the archive has nothing there.
fn unpack(
    archive: &[u8],
    scratch: &Path,
    prefix: &str,
    limits: WorkspaceLimits,
    what: &str,
) -> Result<Option<PathBuf>, StepError> {
    let limit = limits.max_bytes;
    let scratch_budget = Budget::new(limits);
    let broken = |e: std::io::Error| StepError::error(format!("{what}: the repository archive cannot be read: {e}"));
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let wanted: Vec<&str> = prefix.split('/').filter(|s| !s.is_empty()).collect();
    let mut top: Option<String> = None;
    let mut found = false;
    let mut total = 0u64;
    for entry in tar.entries().map_err(broken)? {
        let mut entry = entry.map_err(broken)?;
        let path = entry.path().map_err(broken)?.into_owned();
        let mut parts = Vec::new();
        for component in path.components() {
            match component {
                Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
                Component::CurDir => {}
                // `tar` would refuse these too; say so instead of skipping silently.
                _ => {
                    return Err(StepError::error(format!(
                        "{what}: the archive holds an unsafe name {}",
                        path.display()
                    )));
                }
            }
        }
        let Some((first, rest)) = parts.split_first() else { continue };
        match &top {
            None => top = Some(first.clone()),
            Some(top) if top != first => continue,
            Some(_) => {}
        }
        if rest.len() < wanted.len() || rest.iter().zip(&wanted).any(|(a, b)| a != b) {
            continue;
        }
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir() || kind.is_symlink()) {
            continue;
        }
        found = true;
        total += entry.header().size().unwrap_or(0);
        if total > limit {
            return Err(StepError::error(format!(
                "{what}: the directory is larger than the workspace limit of {limit} bytes"
            )));
        }
        let destination = parts.iter().fold(scratch.to_path_buf(), |dir, part| dir.join(part));
        // An earlier entry may have been a link: never write through one.
        if through_link(scratch, &destination) {
            return Err(StepError::error(format!(
                "{what}: the archive writes through a symbolic link at {}",
                path.display()
            )));
        }
        if kind.is_dir() {
            std::fs::create_dir_all(&destination).map_err(broken)?;
            continue;
        }
        if let Some(parent) = destination.parent() {
            std::fs::create_dir_all(parent).map_err(broken)?;
        }
        if kind.is_symlink() {
            let Some(link) = entry.link_name().map_err(broken)? else { continue };
            std::os::unix::fs::symlink(link.as_ref(), &destination).map_err(broken)?;
            continue;
        }
        // Read at most what the header claims (and the budget allows), so a lying header cannot
        // write past the limit.
        let mut contents = Vec::new();
        entry.by_ref().take(limit + 1).read_to_end(&mut contents).map_err(broken)?;
        let mode = entry.header().mode().unwrap_or(0o644) & 0o755;
        crate::files::write_file(&destination, &contents, Some(mode | 0o600), &scratch_budget)?;
    }
    let Some(top) = top else { return Ok(None) };
    let root = wanted.iter().fold(scratch.join(top), |dir, part| dir.join(part));
    Ok((found && root.is_dir()).then_some(root))
}

/// Whether any directory between `root` and `path` (exclusive of `root`) is a symbolic link.
fn through_link(root: &Path, path: &Path) -> bool {
    let Ok(relative) = path.strip_prefix(root) else { return true };
    let mut current = root.to_path_buf();
    let mut components = relative.components().peekable();
    while let Some(component) = components.next() {
        current.push(component);
        if components.peek().is_none() {
            break;
        }
        if std::fs::symlink_metadata(&current).is_ok_and(|m| m.file_type().is_symlink()) {
            return true;
        }
    }
    false
}
