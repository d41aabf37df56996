//! `resolve_safe_child_path`, the proof every action's file access goes through, on a real
//! workspace full of hostile links (built once per process). The path is fuzzed.
//!
//! Invariant: when it says yes, the path is the lexical resolution of the input, and following it
//! as the kernel would (links included, dangling ones too, then creating what is missing) stays
//! inside the workspace's real path. It never panics.

#![no_main]

use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::unix::fs::symlink;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use actions::resolve_safe_child_path;
use libfuzzer_sys::fuzz_target;

struct Tree {
    /// The workspace, as given to the resolver (through a link, as a working directory may be).
    base: PathBuf,
    /// The workspace's real path.
    real: PathBuf,
}

/// parent/{outside/, workspace/, workspace-sibling/, via -> workspace}, with links of every kind
/// inside the workspace. Kept for the life of the process (under `TMPDIR`, which `scripts/fuzz`
/// points at a scratch directory it removes).
fn tree() -> &'static Tree {
    static TREE: OnceLock<Tree> = OnceLock::new();
    TREE.get_or_init(|| {
        let parent = tempfile::Builder::new().prefix("path-resolve-").tempdir().expect("temp dir").keep();
        let parent = parent.canonicalize().expect("real temp dir");
        let outside = parent.join("outside");
        let ws = parent.join("workspace");
        for dir in [outside.join("deep"), ws.join("a/b/c"), parent.join("workspace-sibling")] {
            std::fs::create_dir_all(dir).expect("mkdir");
        }
        std::fs::write(outside.join("secret"), "s").expect("write");
        std::fs::write(ws.join("a/f.txt"), "f").expect("write");
        let links: &[(&str, PathBuf)] = &[
            ("in", "a".into()),
            ("in-abs", ws.join("a")),
            ("self", ".".into()),
            ("out", outside.clone()),
            ("out-rel", "../outside".into()),
            ("chain", "out".into()),
            ("chain-in", "in".into()),
            ("sibling", "../workspace-sibling".into()),
            ("prefix", parent.join("workspace-sibling/x")),
            ("dang", outside.join("later")),
            ("dang-rel", "../outside/later/deeper".into()),
            ("dang-in", "a/new".into()),
            ("dang-chain", "dang".into()),
            ("dang-dots", "missing/../../outside".into()),
            ("a/up", "../..".into()),
            ("a/b/up2", "../../..".into()),
            ("a/b/c/home", "../../../".into()),
            ("a/b/c/root", "/".into()),
            ("a/file-link", "f.txt".into()),
            ("loop1", "loop2".into()),
            ("loop2", "loop1".into()),
            ("loop-self", "loop-self".into()),
            ("dotdot", "..".into()),
        ];
        for (name, target) in links {
            symlink(target, ws.join(name)).expect("symlink");
        }
        symlink("workspace", parent.join("via")).expect("symlink");
        Tree { base: parent.join("via"), real: ws }
    })
}

/// Lexical resolution: `.` dropped, `..` pops (as the resolver promises to return).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Where the kernel ends up for `path`, creating missing directories on the way (`mkdir -p` then
/// write): links are followed, dangling ones too; `None` for a link loop.
fn physical(path: &Path) -> Option<PathBuf> {
    let mut current = PathBuf::from("/");
    let mut rest: VecDeque<OsString> = path.components().skip(1).map(|c| c.as_os_str().to_owned()).collect();
    let mut links = 0;
    let mut missing = false;
    while let Some(part) = rest.pop_front() {
        if part == ".." {
            current.pop();
            continue;
        }
        if part == "." {
            continue;
        }
        let next = current.join(&part);
        if missing {
            current = next;
            continue;
        }
        match std::fs::symlink_metadata(&next) {
            Ok(metadata) if metadata.file_type().is_symlink() => {
                links += 1;
                if links > 100 {
                    return None;
                }
                let target = std::fs::read_link(&next).expect("readlink");
                if target.is_absolute() {
                    current = PathBuf::from("/");
                }
                for component in target.components().rev() {
                    if component != Component::RootDir {
                        rest.push_front(component.as_os_str().to_owned());
                    }
                }
            }
            Ok(_) => current = next,
            Err(_) => {
                // Created from here on, as a plain directory or file.
                missing = true;
                current = next;
            }
        }
    }
    Some(current)
}

fuzz_target!(|data: &[u8]| {
    let Ok(relative) = std::str::from_utf8(data) else { return };
    let tree = tree();
    let Ok(resolved) = resolve_safe_child_path(&tree.base, relative) else { return };
    assert!(!relative.contains('\0'));
    assert_eq!(resolved, lexical(&tree.base.join(relative)), "not the lexical resolution of {relative:?}");
    if let Some(real) = physical(&resolved) {
        assert!(
            real.starts_with(&tree.real),
            "{relative:?} was allowed as {} but leads to {}",
            resolved.display(),
            real.display()
        );
    }
});
