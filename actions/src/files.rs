//! File-system work shared by the actions: listing a tree without following links, copying a
//! tree keeping links that stay inside it, telling binary files from text as Backstage does, and
//! the per-task budget that stops a template from filling the disk.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::action::StepError;
use crate::workspace::{PathError, normalize, resolve_safe_child_path};

/// Runs file-system work (or rendering) that blocks. On a multi-threaded runtime the worker thread
/// first hands its other tasks to the rest of the pool, so a template writing thousands of files
/// never stalls the HTTP server, the event writer or the heartbeats; elsewhere (single-threaded
/// tests) it simply runs.
pub fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

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

    /// Refuses, without charging, a file of `bytes` that could not fit any more: checked before a
    /// large file is read into memory.
    pub fn check_room(&self, bytes: u64) -> Result<(), StepError> {
        if self.bytes.load(Ordering::Relaxed).saturating_add(bytes) > self.limits.max_bytes {
            return Err(StepError::error(format!(
                "The task would write more than {} bytes (scaffolder.workspaceLimits.maxBytes)",
                self.limits.max_bytes
            )));
        }
        Ok(())
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
        // On Unix a backslash is part of a name, never a separator: a file named `..\x` is
        // listed as itself (reading it as `../x` would lead out of `root`).
        let relative = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
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
/// Every written path is proven inside `target` (a link already there cannot lead a write
/// elsewhere). Returns the links that were skipped.
pub fn copy_tree(source: &Path, target: &Path, budget: &Budget) -> Result<Vec<String>, StepError> {
    let entries = list_tree(source).map_err(|e| io_error(e, source))?;
    let mut writer = TreeWriter::new(target);
    writer.create_dir(target)?;
    let mut skipped = Vec::new();
    for entry in entries {
        let relative = entry.relative.trim_end_matches('/');
        let from = source.join(relative);
        let (to, existing) = writer.target(relative)?;
        match entry.kind {
            EntryKind::Directory => writer.create_dir(&to)?,
            EntryKind::File => {
                let metadata = std::fs::metadata(&from).map_err(|e| io_error(e, &from))?;
                writer.copy(&from, &to, existing, metadata.len(), budget)?;
            }
            EntryKind::Symlink => {
                if link_stays_inside(source, &entry.relative) {
                    writer.link(&from, &to, existing, budget)?;
                } else {
                    skipped.push(entry.relative);
                }
            }
        }
    }
    Ok(skipped)
}

/// What a [`TreeWriter::target`] found at the path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    Nothing,
    Directory,
    /// A file, a link or anything else that is not a directory.
    Other,
}

/// Writes many entries below one directory, proving each path inside it on real paths (as
/// [`resolve_safe_child_path`] does) but once per directory instead of once per file: a
/// directory this writer created or proved is remembered, and a name in such a directory that is
/// not a link needs no more than one `lstat`. Links, `..` and anything unproven take the full
/// real-path walk.
pub struct TreeWriter {
    base: PathBuf,
    proven: HashSet<PathBuf>,
}

impl TreeWriter {
    /// The base need not exist yet: it is proven (and created) like any other directory.
    pub fn new(base: &Path) -> Self {
        TreeWriter { base: normalize(base), proven: HashSet::new() }
    }

    /// `relative` below the base, proven inside it, and what is there now.
    pub fn target(&mut self, relative: &str) -> Result<(PathBuf, Existing), PathError> {
        if relative.contains('\0') {
            return Err(PathError::Nul);
        }
        let target = normalize(&self.base.join(relative));
        if target != self.base
            && target.starts_with(&self.base)
            && let Some(found) = self.below_proven(&target)
        {
            return Ok((target, found));
        }
        let target = resolve_safe_child_path(&self.base, relative)?;
        let existing = match std::fs::symlink_metadata(&target) {
            Err(_) => Existing::Nothing,
            Ok(metadata) if metadata.is_dir() => Existing::Directory,
            Ok(_) => Existing::Other,
        };
        // Proven on real paths: the base is a directory inside itself, and the target's parent
        // is inside the base unless the target is itself a link.
        if !self.proven.contains(&self.base) && self.base.is_dir() {
            self.proven.insert(self.base.clone());
        }
        if existing != Existing::Other
            && let Some(parent) = target.parent()
            && target != self.base
            && parent.is_dir()
        {
            self.proven.insert(parent.to_path_buf());
        }
        Ok((target, existing))
    }

    /// What is at `target` (lexically below the base), when no link can lie on the way from
    /// a proven directory to it: each directory between is checked with one `lstat` (and
    /// remembered), a missing one means nothing below exists. `None` when a link or a file is
    /// on the way, or nothing above is proven: the caller takes the full real-path walk.
    fn below_proven(&mut self, target: &Path) -> Option<Existing> {
        let parent = target.parent()?;
        let mut unproven = Vec::new();
        let mut ancestor = parent;
        while !self.proven.contains(ancestor) {
            if ancestor == self.base {
                return None;
            }
            unproven.push(ancestor);
            ancestor = ancestor.parent()?;
        }
        for dir in unproven.into_iter().rev() {
            match std::fs::symlink_metadata(dir) {
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Some(Existing::Nothing),
                Ok(metadata) if metadata.is_dir() => {
                    self.proven.insert(dir.to_path_buf());
                }
                _ => return None,
            }
        }
        match std::fs::symlink_metadata(target) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Some(Existing::Nothing),
            Ok(metadata) if metadata.is_dir() => Some(Existing::Directory),
            Ok(metadata) if !metadata.file_type().is_symlink() => Some(Existing::Other),
            _ => None,
        }
    }

    /// Creates a directory that [`target`](Self::target) returned (and its parents).
    pub fn create_dir(&mut self, dir: &Path) -> Result<(), StepError> {
        if !self.proven.contains(dir) {
            std::fs::create_dir_all(dir).map_err(|e| io_error(e, dir))?;
            self.proven.insert(dir.to_path_buf());
        }
        Ok(())
    }

    /// Records a directory that already exists at a proven path.
    pub fn adopt_dir(&mut self, dir: &Path) {
        if dir.is_dir() {
            self.proven.insert(dir.to_path_buf());
        }
    }

    fn parent_of(&mut self, to: &Path) -> Result<(), StepError> {
        match to.parent() {
            Some(parent) => self.create_dir(parent),
            None => Ok(()),
        }
    }

    /// Writes `contents` to a path [`target`](Self::target) returned, replacing a file (never
    /// writing through a link) and giving a new file `mode` whatever the umask.
    pub fn write(
        &mut self,
        to: &Path,
        existing: Existing,
        contents: &[u8],
        mode: Option<u32>,
        budget: &Budget,
    ) -> Result<(), StepError> {
        budget.charge(contents.len() as u64)?;
        self.parent_of(to)?;
        if existing == Existing::Other {
            remove_existing_file(to)?;
        }
        create_new_file(to, contents, mode)?;
        Ok(())
    }

    /// Copies the file `from` (of `len` bytes) to a path [`target`](Self::target) returned,
    /// keeping its mode; the kernel moves the bytes (`copy_file_range`), nothing is held in memory.
    pub fn copy(
        &mut self,
        from: &Path,
        to: &Path,
        existing: Existing,
        len: u64,
        budget: &Budget,
    ) -> Result<(), StepError> {
        budget.charge(len)?;
        self.parent_of(to)?;
        if existing == Existing::Other {
            // Replace rather than write through: the target might be a link placed by an earlier step.
            remove_existing_file(to)?;
        }
        std::fs::copy(from, to).map_err(|e| io_error(e, to))?;
        Ok(())
    }

    /// Copies the link `from` as a link.
    pub fn link(&mut self, from: &Path, to: &Path, existing: Existing, budget: &Budget) -> Result<(), StepError> {
        budget.charge(0)?;
        let target = std::fs::read_link(from).map_err(|e| io_error(e, from))?;
        self.parent_of(to)?;
        if existing == Existing::Other {
            remove_existing_file(to)?;
        }
        std::os::unix::fs::symlink(&target, to).map_err(|e| io_error(e, to))
    }
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

/// Writes `contents` to `to`, creating parents, with `mode` for a new file.
pub fn write_file(to: &Path, contents: &[u8], mode: Option<u32>, budget: &Budget) -> Result<(), StepError> {
    budget.charge(contents.len() as u64)?;
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_error(e, parent))?;
    }
    remove_existing_file(to)?;
    create_new_file(to, contents, mode)
}

/// Creates `to` (which must not exist: nothing is written through a link) with `contents`, and
/// `mode` for the new file whatever the umask.
fn create_new_file(to: &Path, contents: &[u8], mode: Option<u32>) -> Result<(), StepError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    if let Some(mode) = mode {
        options.mode(mode & 0o7777);
    }
    let mut file = options.open(to).map_err(|e| io_error(e, to))?;
    std::io::Write::write_all(&mut file, contents).map_err(|e| io_error(e, to))?;
    if let Some(mode) = mode {
        // Keep the execute bits even under a restrictive umask.
        let _ = file.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777));
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
    fn copy_tree_never_writes_through_a_link_already_in_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("src");
        std::fs::create_dir_all(source.join("sub")).unwrap();
        std::fs::write(source.join("sub/a.txt"), "a").unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        let target = dir.path().join("out");
        std::fs::create_dir_all(&target).unwrap();
        // An earlier step left `out/sub` as a link that leads out of the target.
        symlink(&outside, target.join("sub")).unwrap();
        let budget = Budget::new(WorkspaceLimits::default());
        let error = copy_tree(&source, &target, &budget).unwrap_err();
        assert_eq!(error.name, "NotAllowedError", "{error:?}");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "nothing was written outside");
    }

    #[test]
    fn tree_writer_proves_each_path_like_the_real_path_walk() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(base.join("real")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        symlink("real", base.join("alias")).unwrap();
        symlink(&outside, base.join("away")).unwrap();
        symlink(outside.join("file"), base.join("away-file")).unwrap();
        let budget = Budget::new(WorkspaceLimits::default());
        let mut writer = TreeWriter::new(&base);

        // New names in proven directories, and `..` that stays inside.
        let (path, existing) = writer.target("new.txt").unwrap();
        assert_eq!((path.clone(), existing), (base.join("new.txt"), Existing::Nothing));
        writer.write(&path, existing, b"x", Some(0o755), &budget).unwrap();
        assert_eq!(writer.target("real/../new.txt").unwrap(), (base.join("new.txt"), Existing::Other));
        assert_eq!(writer.target("real").unwrap().1, Existing::Directory);
        // Nested directories that do not exist yet are created by the write.
        let (path, existing) = writer.target("a/b/c.txt").unwrap();
        writer.write(&path, existing, b"c", None, &budget).unwrap();
        assert_eq!(std::fs::read_to_string(base.join("a/b/c.txt")).unwrap(), "c");
        // A link to a directory inside is followed; one that leads out is refused, and so is
        // everything below it, however deep, and `..` out of the base.
        assert!(writer.target("alias/x.txt").is_ok());
        for escaping in ["away/x.txt", "away/deep/x.txt", "away-file", "../x.txt", "real/../../x.txt"] {
            assert!(
                matches!(writer.target(escaping), Err(PathError::OutsideWorkspace(_))),
                "{escaping} must be refused"
            );
        }
        assert_eq!(writer.target("a\0b"), Err(PathError::Nul));
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(base.join("new.txt")).unwrap().permissions().mode() & 0o777, 0o755);
    }

    #[test]
    fn tree_writer_agrees_with_the_real_path_walk_below_new_and_linked_directories() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(base.join("real/sub/deeper")).unwrap();
        std::fs::create_dir_all(outside.join("inner")).unwrap();
        symlink(&outside, base.join("real/sub/out")).unwrap();
        symlink("../..", base.join("real/sub/up")).unwrap();
        symlink("../../..", base.join("real/sub/deeper/way-up")).unwrap();
        std::fs::write(base.join("real/file"), "f").unwrap();
        let mut writer = TreeWriter::new(&base);
        // Asked in an order that proves directories first, then goes below and beside them.
        let paths = [
            "real/sub/deeper/a.txt",
            "real/sub/b.txt",
            "real/sub/out/x.txt",
            "real/sub/out/inner/x.txt",
            "real/sub/up/c.txt",
            "real/sub/up/real/sub/d.txt",
            "real/sub/deeper/way-up/x.txt",
            "real/sub/deeper/way-up/base/e.txt",
            "real/file/under-a-file.txt",
            "new/deep/er/f.txt",
            "real/new/g.txt",
            "real/sub/deeper/../../h.txt",
            "real/sub/../../../x.txt",
        ];
        for path in paths {
            let ours = writer.target(path).map(|(p, _)| p);
            let walk = resolve_safe_child_path(&base, path);
            assert_eq!(ours.is_ok(), walk.is_ok(), "{path}: {ours:?} against {walk:?}");
            if let (Ok(ours), Ok(walk)) = (&ours, &walk) {
                assert_eq!(real_or_lexical(ours), real_or_lexical(walk), "{path}");
            }
        }
    }

    /// The real path of what exists of `path`, with the rest appended.
    fn real_or_lexical(path: &Path) -> PathBuf {
        match path.canonicalize() {
            Ok(real) => real,
            Err(_) => real_or_lexical(path.parent().unwrap()).join(path.file_name().unwrap()),
        }
    }

    #[test]
    fn tree_writer_replaces_a_link_instead_of_writing_through_it() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base");
        std::fs::create_dir_all(&base).unwrap();
        std::fs::write(base.join("target.txt"), "keep").unwrap();
        symlink("target.txt", base.join("link.txt")).unwrap();
        let budget = Budget::new(WorkspaceLimits::default());
        let mut writer = TreeWriter::new(&base);
        let (path, existing) = writer.target("link.txt").unwrap();
        assert_eq!(existing, Existing::Other);
        writer.write(&path, existing, b"new", None, &budget).unwrap();
        assert!(!std::fs::symlink_metadata(base.join("link.txt")).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(base.join("link.txt")).unwrap(), "new");
        assert_eq!(std::fs::read_to_string(base.join("target.txt")).unwrap(), "keep");
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
