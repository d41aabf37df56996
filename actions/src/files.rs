//! File-system work shared by the actions: listing a tree without following links, copying a
//! tree keeping links that stay inside it, telling binary files from text as Backstage does, and
//! the per-task budget that stops a template from filling the disk.

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::action::StepError;
use crate::workspace::resolve_safe_child_path;

/// `scaffolder.workspaceLimits`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkspaceLimits {
    pub max_files: u64,
    pub max_bytes: u64,
    /// Longest output of one rendered file or string.
    pub max_render_bytes: u64,
}

impl Default for WorkspaceLimits {
    fn default() -> Self {
        WorkspaceLimits { max_files: 50_000, max_bytes: 1 << 30, max_render_bytes: 64 << 20 }
    }
}

/// What one task has written so far, against its limits.
#[derive(Debug, Default)]
pub struct Budget {
    limits: WorkspaceLimits,
    files: AtomicU64,
    bytes: AtomicU64,
}

impl Budget {
    pub fn new(limits: WorkspaceLimits) -> Self {
        Budget { limits, ..Budget::default() }
    }

    pub fn limits(&self) -> WorkspaceLimits {
        self.limits
    }

    /// Records a file of `bytes` about to be written; refuses once a limit would be passed.
    pub fn charge(&self, bytes: u64) -> Result<(), StepError> {
        let files = self.files.fetch_add(1, Ordering::Relaxed) + 1;
        let total = self.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if files > self.limits.max_files {
            return Err(StepError::error(format!(
                "The task would write more than {} files (scaffolder.workspaceLimits.maxFiles)",
                self.limits.max_files
            )));
        }
        if total > self.limits.max_bytes {
            return Err(StepError::error(format!(
                "The task would write more than {} bytes (scaffolder.workspaceLimits.maxBytes)",
                self.limits.max_bytes
            )));
        }
        Ok(())
    }
}

/// One entry of a tree, as globby's `**/*` with `markDirectories` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// `/`-separated, relative; directories end with `/`.
    pub relative: String,
    pub kind: EntryKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    Directory,
    File,
    Symlink,
}

/// Every entry below `root`, sorted by path; symbolic links are listed, never followed.
pub fn list_tree(root: &Path) -> std::io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    walk(root, root, &mut out)?;
    out.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(out)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<Entry>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let file_type = entry.file_type()?;
        let relative = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
        if file_type.is_symlink() {
            out.push(Entry { relative, kind: EntryKind::Symlink });
        } else if file_type.is_dir() {
            out.push(Entry { relative: format!("{relative}/"), kind: EntryKind::Directory });
            walk(root, &path, out)?;
        } else {
            out.push(Entry { relative, kind: EntryKind::File });
        }
    }
    Ok(())
}

/// Copies the tree at `source` into `target` (created if missing). Files keep their mode; links
/// are copied as links when what they point to stays inside `source`, and skipped otherwise.
/// Returns the links that were skipped.
pub fn copy_tree(source: &Path, target: &Path, budget: &Budget) -> Result<Vec<String>, StepError> {
    let entries = list_tree(source).map_err(|e| io_error(e, source))?;
    std::fs::create_dir_all(target).map_err(|e| io_error(e, target))?;
    let mut skipped = Vec::new();
    for entry in entries {
        let from = source.join(entry.relative.trim_end_matches('/'));
        let to = target.join(entry.relative.trim_end_matches('/'));
        match entry.kind {
            EntryKind::Directory => std::fs::create_dir_all(&to).map_err(|e| io_error(e, &to))?,
            EntryKind::File => copy_file(&from, &to, budget)?,
            EntryKind::Symlink => {
                if link_stays_inside(source, &entry.relative) {
                    copy_link(&from, &to, budget)?;
                } else {
                    skipped.push(entry.relative);
                }
            }
        }
    }
    Ok(skipped)
}

/// Whether a link inside `root` resolves (even dangling) to somewhere inside `root`.
pub fn link_stays_inside(root: &Path, relative: &str) -> bool {
    resolve_safe_child_path(root, relative).is_ok()
}

pub fn copy_file(from: &Path, to: &Path, budget: &Budget) -> Result<(), StepError> {
    let metadata = std::fs::metadata(from).map_err(|e| io_error(e, from))?;
    budget.charge(metadata.len())?;
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_error(e, parent))?;
    }
    // Replace rather than write through: the target might be a link placed by an earlier step.
    remove_existing_file(to)?;
    std::fs::copy(from, to).map_err(|e| io_error(e, to))?;
    Ok(())
}

pub fn copy_link(from: &Path, to: &Path, budget: &Budget) -> Result<(), StepError> {
    budget.charge(0)?;
    let target = std::fs::read_link(from).map_err(|e| io_error(e, from))?;
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_error(e, parent))?;
    }
    remove_existing_file(to)?;
    std::os::unix::fs::symlink(&target, to).map_err(|e| io_error(e, to))
}

/// Writes `contents` to `to`, creating parents, with `mode` for a new file.
pub fn write_file(to: &Path, contents: &[u8], mode: Option<u32>, budget: &Budget) -> Result<(), StepError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    budget.charge(contents.len() as u64)?;
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_error(e, parent))?;
    }
    remove_existing_file(to)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    if let Some(mode) = mode {
        options.mode(mode & 0o7777);
    }
    let mut file = options.open(to).map_err(|e| io_error(e, to))?;
    std::io::Write::write_all(&mut file, contents).map_err(|e| io_error(e, to))?;
    if let Some(mode) = mode {
        // Keep the execute bits even under a restrictive umask.
        let _ = std::fs::set_permissions(to, std::fs::Permissions::from_mode(mode & 0o7777));
    }
    Ok(())
}

fn remove_existing_file(path: &Path) -> Result<(), StepError> {
    match std::fs::symlink_metadata(path) {
        Ok(metadata) if !metadata.is_dir() => std::fs::remove_file(path).map_err(|e| io_error(e, path)),
        _ => Ok(()),
    }
}

/// Turns an IO error into the step error Backstage shows (`ENOENT: no such file or directory`).
pub fn io_error(error: std::io::Error, path: &Path) -> StepError {
    let code = match error.kind() {
        std::io::ErrorKind::NotFound => "ENOENT: no such file or directory",
        std::io::ErrorKind::PermissionDenied => "EACCES: permission denied",
        std::io::ErrorKind::AlreadyExists => "EEXIST: file already exists",
        _ => return StepError::error(format!("{error}, {}", path.display())),
    };
    StepError::error(format!("{code}, '{}'", path.display()))
}

/// The `isbinaryfile` package's verdict: empty files and files with a text byte-order mark are
/// text; a NUL byte, a PDF header, or more than 10 % suspicious bytes (outside printable ASCII and
/// not part of valid UTF-8) in the first 512 bytes mean binary.
pub fn is_binary(path: &Path) -> std::io::Result<bool> {
    let mut buffer = [0u8; 512];
    let mut file = std::fs::File::open(path)?;
    let mut read = 0;
    while read < buffer.len() {
        let n = file.read(&mut buffer[read..])?;
        if n == 0 {
            break;
        }
        read += n;
    }
    Ok(is_binary_bytes(&buffer[..read]))
}

pub fn is_binary_bytes(bytes: &[u8]) -> bool {
    let total = bytes.len();
    if total == 0 {
        return false;
    }
    // Byte-order marks of UTF-32, UTF-8 and UTF-16.
    if bytes.starts_with(&[0x00, 0x00, 0xFE, 0xFF])
        || bytes.starts_with(&[0xFF, 0xFE, 0x00, 0x00])
        || bytes.starts_with(&[0xEF, 0xBB, 0xBF])
        || bytes.starts_with(&[0xFE, 0xFF])
        || bytes.starts_with(&[0xFF, 0xFE])
    {
        return false;
    }
    if bytes.starts_with(b"%PDF-") {
        return true;
    }
    let mut suspicious = 0usize;
    let mut i = 0;
    while i < total {
        let byte = bytes[i];
        if byte == 0 {
            return true;
        }
        if !(7..=14).contains(&byte) && !(32..=127).contains(&byte) {
            // A complete UTF-8 sequence is not suspicious.
            let width = match byte {
                0xC2..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF4 => 4,
                _ => 0,
            };
            if width > 0 && i + width <= total && bytes[i + 1..i + width].iter().all(|b| (0x80..=0xBF).contains(b)) {
                i += width;
                continue;
            }
            suspicious += 1;
            if i >= 32 && suspicious * 100 / total > 10 {
                return true;
            }
        }
        i += 1;
    }
    suspicious * 100 / total > 10
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn binary_detection_matches_isbinaryfile() {
        assert!(!is_binary_bytes(b""));
        assert!(!is_binary_bytes("plain text, ünïcode ✓\n".as_bytes()));
        assert!(is_binary_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"));
        assert!(is_binary_bytes(b"%PDF-1.4 ..."));
        assert!(!is_binary_bytes(b"caf\xe9 au lait, une cr\xe8me br\xfbl\xe9e et encore du texte latin-1 ici"));
        assert!(is_binary_bytes(&[0x80u8; 64]));
        assert!(!is_binary_bytes(&[0xFF, 0xFE, b'a', 0]));
    }

    #[test]
    fn copy_tree_keeps_inside_links_and_drops_escaping_ones() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("src");
        std::fs::create_dir_all(source.join("sub")).unwrap();
        std::fs::write(source.join("sub/a.txt"), "a").unwrap();
        symlink("sub/a.txt", source.join("inside")).unwrap();
        symlink("/etc/passwd", source.join("outside")).unwrap();
        symlink("../../etc", source.join("escape")).unwrap();
        symlink("missing-but-inside", source.join("dangling")).unwrap();
        let target = dir.path().join("out");
        let budget = Budget::new(WorkspaceLimits::default());
        let mut skipped = copy_tree(&source, &target, &budget).unwrap();
        skipped.sort();
        assert_eq!(skipped, vec!["escape", "outside"]);
        assert_eq!(std::fs::read_link(target.join("inside")).unwrap(), PathBuf::from("sub/a.txt"));
        assert!(std::fs::symlink_metadata(target.join("dangling")).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(target.join("sub/a.txt")).unwrap(), "a");
    }

    #[test]
    fn the_budget_stops_at_its_limits() {
        let budget = Budget::new(WorkspaceLimits { max_files: 2, max_bytes: 100, max_render_bytes: 10 });
        assert!(budget.charge(10).is_ok());
        assert!(budget.charge(10).is_ok());
        assert!(budget.charge(1).unwrap_err().message.contains("maxFiles"));
        let bytes = Budget::new(WorkspaceLimits { max_files: 10, max_bytes: 100, max_render_bytes: 10 });
        assert!(bytes.charge(101).unwrap_err().message.contains("maxBytes"));
    }
}
