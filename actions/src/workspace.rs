//! A task's workspace: a directory that the value owns (removed when it is dropped), and the only
//! way to turn a path from a template into a real one.
//!
//! Containment is checked on *real* paths, as Backstage does since CVE-2026-24047: symlink chains
//! are followed, dangling links are followed through `readlink`, and a path that does not exist yet
//! is judged by its nearest existing ancestor.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

use thiserror::Error;

/// How many symlinks one resolution may follow before it is considered a loop.
const MAX_LINKS: usize = 40;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PathError {
    /// Backstage's wording (NotAllowedError), then the path as given.
    #[error("Relative path is not allowed to refer to a directory outside its parent: {0}")]
    OutsideWorkspace(String),
    #[error("Too many levels of symbolic links in {0}")]
    LinkLoop(String),
    #[error("Path contains a NUL byte")]
    Nul,
}

/// Prepares `backend.workingDirectory`: creates it and, on ext2/3/4, marks it as the top of
/// directory hierarchies (`chattr +T`), so that the kernel's Orlov allocator spreads task
/// workspaces over block groups instead of packing them into one. Without it, creating and
/// deleting thousands of files a second in one block group makes every new inode scan past the
/// recently deleted ones (ext4's `recently_deleted`), and file creation dominates a busy worker's
/// CPU. Best effort: other file systems do not have the flag.
pub fn prepare_working_directory(path: &Path) -> io::Result<()> {
    use rustix::fs::{IFlags, ioctl_getflags, ioctl_setflags};
    std::fs::create_dir_all(path)?;
    let directory = std::fs::File::open(path)?;
    match ioctl_getflags(&directory) {
        Ok(flags) if flags.contains(IFlags::TOPDIR) => {}
        Ok(flags) => {
            if let Err(error) = ioctl_setflags(&directory, flags | IFlags::TOPDIR) {
                tracing::debug!(%error, path = %path.display(), "could not mark the working directory as a top directory");
            }
        }
        Err(error) => {
            tracing::debug!(%error, path = %path.display(), "the working directory's file system has no inode flags")
        }
    }
    Ok(())
}

#[derive(Debug)]
pub struct Workspace {
    root: PathBuf,
}

impl Workspace {
    /// Creates `parent/name` afresh (removing what an earlier attempt may have left there).
    pub fn create(parent: &Path, name: &str) -> io::Result<Self> {
        check_name(name)?;
        std::fs::create_dir_all(parent)?;
        let root = parent.join(name);
        match std::fs::remove_dir_all(&root) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        std::fs::create_dir(&root)?;
        Ok(Workspace { root: root.canonicalize()? })
    }

    /// Names `parent/name` for a run that has no steps, and so nothing that could use a
    /// directory: nothing is created (two file-system operations fewer per task, the larger part
    /// of a no-op task's cost on ext4); removing it still clears what an earlier attempt left.
    pub fn unused(parent: &Path, name: &str) -> io::Result<Self> {
        check_name(name)?;
        Ok(Workspace { root: parent.join(name) })
    }

    /// The workspace directory (a real path).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves `relative` against the workspace and proves the result stays inside it.
    pub fn resolve(&self, relative: &str) -> Result<PathBuf, PathError> {
        resolve_safe_child_path(&self.root, relative)
    }

    /// Removes the directory off the async executor; dropping does the same, blocking.
    pub async fn remove(self) {
        let root = self.root.clone();
        std::mem::forget(self);
        let _ = tokio::task::spawn_blocking(move || remove_tree(&root)).await;
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        remove_tree(&self.root);
    }
}

/// A workspace is one directory directly under the working directory.
fn check_name(name: &str) -> io::Result<()> {
    if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("invalid workspace name '{name}'")));
    }
    Ok(())
}

fn remove_tree(root: &Path) {
    if let Err(error) = std::fs::remove_dir_all(root)
        && error.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!(path = %root.display(), %error, "could not remove a workspace");
    }
}

/// Backstage's `resolveSafeChildPath(base, path)`: the lexically resolved path, if its real path
/// is inside `base`'s real path.
pub fn resolve_safe_child_path(base: &Path, path: &str) -> Result<PathBuf, PathError> {
    if path.contains('\0') {
        return Err(PathError::Nul);
    }
    let target = normalize(&base.join(path));
    let real_base = real_path(base)?;
    let real_target = real_path(&target)?;
    if real_target == real_base || real_target.starts_with(&real_base) {
        Ok(target)
    } else {
        Err(PathError::OutsideWorkspace(path.to_owned()))
    }
}

/// Lexical normalisation, like Node's `path.resolve`: `.` dropped, `..` pops a component.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The real path of `path`, even if it, or links in it, do not exist: walked one component at a
/// time as the kernel walks it, so a link is followed from where it really is (a dangling one too,
/// through `readlink`), and `..` after a link leaves the link's target, not the link's name. From
/// the first missing component on, the rest is appended as written (`..` taking off the last
/// part), which is where creating it would lead.
///
/// (Found by fuzzing, fuzz/ path_resolve: the relative target of a dangling link used to be
/// joined to the link's *lexical* parent, so `up/dangling`, with `up` a link to a directory higher
/// in the workspace, was judged inside while writing through it landed outside.)
fn real_path(path: &Path) -> Result<PathBuf, PathError> {
    if let Ok(real) = path.canonicalize() {
        return Ok(real);
    }
    let mut real = if path.is_absolute() {
        PathBuf::from("/")
    } else {
        Path::new(".").canonicalize().map_err(|_| PathError::OutsideWorkspace(path.display().to_string()))?
    };
    let mut pending: VecDeque<OsString> = VecDeque::new();
    push_front(&mut pending, path);
    let mut links = 0;
    let mut missing = false;
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            real.pop();
            continue;
        }
        let next = real.join(&part);
        if missing {
            real = next;
            continue;
        }
        match std::fs::symlink_metadata(&next) {
            Ok(metadata) if metadata.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(PathError::LinkLoop(path.display().to_string()));
                }
                let target =
                    std::fs::read_link(&next).map_err(|_| PathError::OutsideWorkspace(next.display().to_string()))?;
                if target.is_absolute() {
                    real = PathBuf::from("/");
                }
                push_front(&mut pending, &target);
            }
            Ok(_) => real = next,
            // Does not exist (or cannot be read): nothing below it exists either.
            Err(_) => {
                missing = true;
                real = next;
            }
        }
    }
    Ok(real)
}

/// `path`'s names and `..`s, in order, before what is pending (`.` and the root dropped).
fn push_front(pending: &mut VecDeque<OsString>, path: &Path) {
    for component in path.components().rev() {
        match component {
            Component::Normal(name) => pending.push_front(name.to_owned()),
            Component::ParentDir => pending.push_front(OsString::from("..")),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn workspace() -> (tempfile::TempDir, Workspace) {
        let parent = tempfile::tempdir().unwrap();
        let workspace = Workspace::create(parent.path(), "task").unwrap();
        (parent, workspace)
    }

    #[test]
    fn plain_relative_paths_stay_inside() {
        let (_parent, ws) = workspace();
        for path in ["a.txt", "./dir/b", "dir/../c", ".", "", "x/./y/../z"] {
            let resolved = ws.resolve(path).unwrap();
            assert!(resolved.starts_with(ws.root()), "{path}");
        }
    }

    #[test]
    fn escapes_are_refused() {
        let (_parent, ws) = workspace();
        for path in ["..", "../x", "a/../../x", "/etc/passwd", "../task-other", "a/b/../../../x"] {
            assert!(matches!(ws.resolve(path), Err(PathError::OutsideWorkspace(_))), "{path}");
        }
        assert_eq!(ws.resolve("a\0b"), Err(PathError::Nul));
    }

    #[test]
    fn symlinks_are_judged_by_where_they_lead() {
        let (parent, ws) = workspace();
        let outside = parent.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("secret"), "s").unwrap();
        symlink(&outside, ws.root().join("out")).unwrap();
        symlink("out", ws.root().join("chain1")).unwrap();
        symlink("chain1", ws.root().join("chain2")).unwrap();
        symlink(parent.path().join("not-yet"), ws.root().join("dangling")).unwrap();
        symlink("dangling2", ws.root().join("dangling1")).unwrap();
        symlink("/nonexistent-root/x", ws.root().join("dangling2")).unwrap();
        std::fs::create_dir(ws.root().join("inner")).unwrap();
        symlink("inner", ws.root().join("fine")).unwrap();
        for path in ["out/secret", "out", "chain2/secret", "dangling", "dangling/new-file", "dangling1"] {
            assert!(matches!(ws.resolve(path), Err(PathError::OutsideWorkspace(_))), "{path}");
        }
        assert!(ws.resolve("fine/new").is_ok());
        assert!(ws.resolve("not-there/deeper/file").is_ok());
    }

    /// Found by fuzzing (fuzz/ path_resolve): a dangling link reached through a link to a higher
    /// directory was followed from its lexical place, and judged inside.
    #[test]
    fn dangling_links_are_followed_from_where_they_really_are() {
        let (parent, ws) = workspace();
        std::fs::create_dir(parent.path().join("outside")).unwrap();
        std::fs::create_dir_all(ws.root().join("a/b/c")).unwrap();
        symlink("../../..", ws.root().join("a/b/c/home")).unwrap();
        symlink("../outside/later", ws.root().join("dang")).unwrap();
        symlink("a/b/c/home/../outside/x", ws.root().join("dang-up")).unwrap();
        for path in ["a/b/c/home/dang", "a/b/c/home/dang/deeper", "dang-up"] {
            assert!(matches!(ws.resolve(path), Err(PathError::OutsideWorkspace(_))), "{path}");
        }
        // Writing through the link really does land outside.
        std::fs::write(ws.root().join("a/b/c/home/dang"), "x").unwrap();
        assert!(parent.path().join("outside/later").exists());
        assert!(ws.resolve("a/b/c/home/a/new").is_ok());
        assert!(ws.resolve("a/b/c/home/missing/../a").is_ok());
    }

    #[test]
    fn link_loops_are_refused() {
        let (_parent, ws) = workspace();
        symlink("loop-b", ws.root().join("loop-a")).unwrap();
        symlink("loop-a", ws.root().join("loop-b")).unwrap();
        assert!(matches!(ws.resolve("loop-a/x"), Err(PathError::LinkLoop(_))));
    }

    #[test]
    fn dropping_removes_the_directory() {
        let parent = tempfile::tempdir().unwrap();
        let ws = Workspace::create(parent.path(), "task").unwrap();
        std::fs::write(ws.root().join("f"), "x").unwrap();
        let root = ws.root().to_path_buf();
        drop(ws);
        assert!(!root.exists());
        assert!(Workspace::create(parent.path(), "../x").is_err());
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// A workspace with every kind of link, beside an `outside` directory that must stay empty.
        fn hostile_workspace() -> (tempfile::TempDir, Workspace, PathBuf) {
            let parent = tempfile::tempdir().unwrap();
            let ws = Workspace::create(parent.path(), "task").unwrap();
            let outside = parent.path().join("outside");
            std::fs::create_dir(&outside).unwrap();
            let root = ws.root().to_path_buf();
            std::fs::create_dir_all(root.join("a/b")).unwrap();
            std::fs::write(root.join("a/f.txt"), "f").unwrap();
            symlink("a", root.join("in")).unwrap();
            symlink(&outside, root.join("out")).unwrap();
            symlink("out", root.join("chain")).unwrap();
            symlink(outside.join("later"), root.join("dang")).unwrap();
            symlink("a/new", root.join("dang-in")).unwrap();
            symlink("../..", root.join("a/up")).unwrap();
            symlink("loop2", root.join("loop1")).unwrap();
            symlink("loop1", root.join("loop2")).unwrap();
            (parent, ws, outside)
        }

        fn component() -> impl Strategy<Value = &'static str> {
            prop::sample::select(vec![
                "a", "b", "f.txt", "new", "..", ".", "", "in", "out", "chain", "dang", "dang-in", "up", "loop1",
            ])
        }

        fn relative_path() -> impl Strategy<Value = String> {
            (prop::bool::weighted(0.05), prop::collection::vec(component(), 0..6))
                .prop_map(|(absolute, parts)| format!("{}{}", if absolute { "/" } else { "" }, parts.join("/")))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(400))]

            /// Whatever the resolver allows can be written without touching anything outside.
            #[test]
            fn writing_where_allowed_never_leaves_the_workspace(path in relative_path()) {
                let (_parent, ws, outside) = hostile_workspace();
                if let Ok(resolved) = ws.resolve(&path) {
                    prop_assert!(resolved.is_absolute());
                    let is_dir = resolved.is_dir();
                    if !is_dir {
                        if let Some(directory) = resolved.parent() {
                            let _ = std::fs::create_dir_all(directory);
                        }
                        let _ = std::fs::write(&resolved, b"x");
                    }
                    if let Ok(real) = resolved.canonicalize() {
                        prop_assert!(real.starts_with(ws.root()), "{path} -> {}", real.display());
                    }
                    let leaked: Vec<_> = std::fs::read_dir(&outside).unwrap().flatten().map(|e| e.path()).collect();
                    prop_assert!(leaked.is_empty(), "{path} wrote {leaked:?}");
                }
            }

            /// Plain names never fail, however they are combined.
            #[test]
            fn plain_names_always_resolve(parts in prop::collection::vec(prop::sample::select(vec!["a", "b", "x", "new", "."]), 0..8)) {
                let (_parent, ws, _outside) = hostile_workspace();
                let path = parts.join("/");
                let resolved = ws.resolve(&path);
                prop_assert!(resolved.is_ok(), "{path}: {resolved:?}");
                prop_assert!(resolved.unwrap().starts_with(ws.root()));
            }
        }
    }
}
