//! A commit of a directory, pushed with git2. The repository is built in a scratch directory of
//! its own, so the workspace itself is never changed (no `.git` appears in it), and only the
//! directory's files go in: `.gitignore` is honoured as `git add .` would, `.git` directories are
//! left out, symlinks are committed as links and execute bits are kept.
//!
//! Blocking: call from `spawn_blocking`.

use std::cell::Cell;
use std::path::Path;

use git2::{Cred, IndexEntry, IndexTime, PushOptions, RemoteCallbacks, Repository, Signature};

use crate::action::StepError;

pub struct Author {
    pub name: String,
    pub email: String,
}

pub struct Push<'a> {
    /// The directory whose files make the commit.
    pub source: &'a Path,
    pub remote_url: &'a str,
    pub branch: &'a str,
    /// Sent as the password of user `x-access-token`, as GitHub expects.
    pub token: &'a str,
    pub author: &'a Author,
    pub message: &'a str,
}

/// Commits every file of `push.source` as the first commit of `push.branch` and pushes it; returns
/// the commit's hash.
pub fn commit_and_push(push: &Push<'_>, scratch: &Path) -> Result<String, StepError> {
    let failed = |what: &str, error: git2::Error| git_error(what, &error, push.token);
    let repository = Repository::init_bare(scratch).map_err(|e| failed("Could not create a git repository", e))?;
    let mut index = git2::Index::new().map_err(|e| failed("Could not create a git index", e))?;
    let files = add_directory(&repository, &mut index, push.source)?;
    let tree_id = index.write_tree_to(&repository).map_err(|e| failed("Could not write the git tree", e))?;
    let tree = repository.find_tree(tree_id).map_err(|e| failed("Could not read the git tree", e))?;
    let signature =
        Signature::now(&push.author.name, &push.author.email).map_err(|e| failed("Invalid git author", e))?;
    let reference = format!("refs/heads/{}", push.branch);
    let commit = repository
        .commit(Some(&reference), &signature, &signature, push.message, &tree, &[])
        .map_err(|e| failed("Could not commit", e))?;
    tracing::debug!(files, commit = %commit, "committed the directory");

    let attempts = Cell::new(0u32);
    let rejection = std::cell::RefCell::new(None::<String>);
    let mut callbacks = RemoteCallbacks::new();
    callbacks.credentials(|_url, _username, _allowed| {
        attempts.set(attempts.get() + 1);
        // libgit2 asks again after a refusal; asking twice means the token was refused.
        if attempts.get() > 1 {
            return Err(git2::Error::from_str("the git server refused the token"));
        }
        Cred::userpass_plaintext("x-access-token", push.token)
    });
    callbacks.push_update_reference(|name, status| {
        if let Some(message) = status {
            *rejection.borrow_mut() = Some(format!("{name}: {message}"));
        }
        Ok(())
    });
    let mut options = PushOptions::new();
    options.remote_callbacks(callbacks);
    let mut remote = repository.remote_anonymous(push.remote_url).map_err(|e| failed("Invalid git remote URL", e))?;
    remote
        .push(&[format!("{reference}:{reference}")], Some(&mut options))
        .map_err(|e| failed(&format!("Pushing to {}", redact(push.remote_url, push.token)), e))?;
    drop(remote);
    let rejected = rejection.borrow().clone();
    if let Some(rejected) = rejected {
        return Err(StepError::error(format!(
            "The git server rejected the push of {} to {}: {rejected}",
            push.branch,
            redact(push.remote_url, push.token)
        )));
    }
    Ok(commit.to_string())
}

/// A file to commit: its path (relative, `/`-separated), git mode and content (a link's target
/// for symlinks).
pub(crate) struct FileEntry {
    pub path: String,
    pub mode: u32,
    pub content: Vec<u8>,
}

/// Every file under `root`, as `git add .` would take them: `.gitignore` rules applied, `.git`
/// directories left out, links kept as links, execute bits kept. Sorted by path.
pub(crate) fn collect_files(root: &Path) -> Result<Vec<FileEntry>, StepError> {
    use std::os::unix::fs::PermissionsExt;
    let walker = ignore::WalkBuilder::new(root)
        .hidden(false)
        .ignore(false)
        .git_global(false)
        .git_exclude(false)
        .git_ignore(true)
        .require_git(false)
        .parents(false)
        .follow_links(false)
        .filter_entry(|entry| entry.file_name() != ".git")
        .build();
    let mut files = Vec::new();
    for entry in walker {
        let entry = entry.map_err(|e| StepError::error(format!("Could not list the files to commit: {e}")))?;
        let path = entry.path();
        let Some(file_type) = entry.file_type() else { continue };
        let relative = path.strip_prefix(root).map_err(|e| StepError::error(e.to_string()))?;
        if file_type.is_dir() || relative.as_os_str().is_empty() {
            continue;
        }
        let (mode, content) = if file_type.is_symlink() {
            let target = std::fs::read_link(path).map_err(|e| crate::files::io_error(e, path))?;
            (0o120000, target.as_os_str().as_encoded_bytes().to_vec())
        } else {
            let metadata = std::fs::metadata(path).map_err(|e| crate::files::io_error(e, path))?;
            let mode = if metadata.permissions().mode() & 0o111 != 0 { 0o100755 } else { 0o100644 };
            (mode, std::fs::read(path).map_err(|e| crate::files::io_error(e, path))?)
        };
        let relative = relative
            .to_str()
            .ok_or_else(|| StepError::input(format!("{} is not a UTF-8 file name", relative.display())))?;
        files.push(FileEntry { path: relative.to_owned(), mode, content });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// Adds every file under `root` to `index`; returns how many.
fn add_directory(repository: &Repository, index: &mut git2::Index, root: &Path) -> Result<usize, StepError> {
    let files = collect_files(root)?;
    for file in &files {
        let id = repository
            .blob(&file.content)
            .map_err(|e| StepError::error(format!("Could not store {} in git: {}", file.path, e.message())))?;
        let entry = IndexEntry {
            ctime: IndexTime::new(0, 0),
            mtime: IndexTime::new(0, 0),
            dev: 0,
            ino: 0,
            mode: file.mode,
            uid: 0,
            gid: 0,
            file_size: file.content.len() as u32,
            id,
            flags: file.path.len().min(0xfff) as u16,
            flags_extended: 0,
            path: file.path.as_bytes().to_vec(),
        };
        index
            .add(&entry)
            .map_err(|e| StepError::error(format!("Could not add {} to the commit: {}", file.path, e.message())))?;
    }
    Ok(files.len())
}

fn git_error(what: &str, error: &git2::Error, token: &str) -> StepError {
    let message = redact(error.message(), token);
    let hint = match error.class() {
        git2::ErrorClass::Http if message.contains("401") || message.contains("403") || message.contains("refused") => {
            " (the token may lack permission to push)"
        }
        _ => "",
    };
    StepError::error(format!("{what}: {message}{hint}"))
}

/// A token must never reach a message, even if a server echoes it.
fn redact(text: &str, token: &str) -> String {
    if token.len() > 1 { text.replace(token, "***") } else { text.to_owned() }
}
