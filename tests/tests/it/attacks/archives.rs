//! Archive entries that try to leave the directory they are unpacked into (the tar half of
//! GHSA-rq6q-wr2q-7pgp): `..` and absolute names (plain, in a PAX header, in a GNU long name),
//! a link followed by a write through it, hard links, special files, and a header that lies about
//! its size. Skeletons are read from a repository's tarball on a GitHub that wiremock stands in for.

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{Setup, Target, step};

/// GitHub's archives hold one top directory.
const TOP: &str = "acme-repo-0a1b2c3";

enum Entry {
    File(String, &'static [u8]),
    Symlink(String, String),
    Hardlink(String, String),
    Fifo(String),
    /// A PAX header naming the next entry, then that entry (a file) with a harmless name.
    PaxPath(String),
    /// A GNU long-name entry naming the next entry, then that entry (a file).
    LongName(String),
    /// A file whose header claims this many bytes; the archive ends right after it.
    Lying(String, u64),
}

fn header(name: &[u8], kind: tar::EntryType, size: u64, link: Option<&[u8]>) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    {
        // Written raw: the builder would (rightly) refuse these names.
        let old = header.as_old_mut();
        old.name = [0; 100];
        old.name[..name.len()].copy_from_slice(name);
        if let Some(link) = link {
            old.linkname = [0; 100];
            old.linkname[..link.len()].copy_from_slice(link);
        }
    }
    header.set_mode(0o644);
    header.set_size(size);
    header.set_entry_type(kind);
    header.set_mtime(0);
    header.set_cksum();
    header
}

fn archive(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    let ok = format!("{TOP}/skel/ok.txt");
    builder.append(&header(ok.as_bytes(), tar::EntryType::Regular, 3, None), &b"ok\n"[..]).unwrap();
    for entry in entries {
        match entry {
            Entry::File(name, data) => builder
                .append(&header(name.as_bytes(), tar::EntryType::Regular, data.len() as u64, None), *data)
                .unwrap(),
            Entry::Symlink(name, to) => builder
                .append(&header(name.as_bytes(), tar::EntryType::Symlink, 0, Some(to.as_bytes())), &[][..])
                .unwrap(),
            Entry::Hardlink(name, to) => {
                builder.append(&header(name.as_bytes(), tar::EntryType::Link, 0, Some(to.as_bytes())), &[][..]).unwrap()
            }
            Entry::Fifo(name) => {
                builder.append(&header(name.as_bytes(), tar::EntryType::Fifo, 0, None), &[][..]).unwrap()
            }
            Entry::PaxPath(name) => {
                let record = |len: usize| format!("{len} path={name}\n");
                let mut len = record(0).len();
                while record(len).len() != len {
                    len = record(len).len();
                }
                let data = record(len).into_bytes();
                let pax = format!("{TOP}/PaxHeader");
                builder
                    .append(&header(pax.as_bytes(), tar::EntryType::XHeader, data.len() as u64, None), &data[..])
                    .unwrap();
                let innocent = format!("{TOP}/skel/innocent.txt");
                builder
                    .append(&header(innocent.as_bytes(), tar::EntryType::Regular, 6, None), &b"pwned\n"[..])
                    .unwrap();
            }
            Entry::LongName(name) => {
                let mut data = name.clone().into_bytes();
                data.push(0);
                builder
                    .append(&header(b"././@LongLink", tar::EntryType::GNULongName, data.len() as u64, None), &data[..])
                    .unwrap();
                let innocent = format!("{TOP}/skel/innocent.txt");
                builder
                    .append(&header(innocent.as_bytes(), tar::EntryType::Regular, 6, None), &b"pwned\n"[..])
                    .unwrap();
            }
            Entry::Lying(name, size) => {
                builder.append(&header(name.as_bytes(), tar::EntryType::Regular, *size, None), &b"tiny"[..]).unwrap();
            }
        }
    }
    builder.into_inner().unwrap().finish().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_entries_cannot_leave_the_directory_they_are_unpacked_into() {
    let github = MockServer::start().await;
    let target = Target::start(Setup { github_api: Some(github.uri()), ..Setup::default() }).await;
    let root = target.root.path().display().to_string();
    // The scratch directory is `<root>/tmp/<random>`, so `<top>/skel/../../../..` is `<root>`.
    let up = format!("{TOP}/skel/../../../../outside/empty/pwned.txt");
    let long_up = format!("{TOP}/skel/{}../../../../outside/empty/pwned.txt", "./".repeat(60));
    let refused: Vec<(&str, Vec<Entry>, &str)> = vec![
        ("dotdot", vec![Entry::File(up.clone(), b"pwned\n")], "the archive holds an unsafe name"),
        (
            "absolute",
            vec![Entry::File(format!("{root}/outside/empty/pwned.txt"), b"pwned\n")],
            "the archive holds an unsafe name",
        ),
        ("pax-dotdot", vec![Entry::PaxPath(up.clone())], "the archive holds an unsafe name"),
        ("longname-dotdot", vec![Entry::LongName(long_up)], "the archive holds an unsafe name"),
        (
            "write-through-absolute-link",
            vec![
                Entry::Symlink(format!("{TOP}/skel/evil"), format!("{root}/outside/empty")),
                Entry::File(format!("{TOP}/skel/evil/pwned.txt"), b"pwned\n"),
            ],
            "the archive writes through a symbolic link",
        ),
        (
            "write-through-relative-link",
            vec![
                Entry::Symlink(format!("{TOP}/skel/evil"), "../../../../outside/empty".to_owned()),
                Entry::File(format!("{TOP}/skel/evil/pwned.txt"), b"pwned\n"),
            ],
            "the archive writes through a symbolic link",
        ),
        ("lying-size", vec![Entry::Lying(format!("{TOP}/skel/huge.bin"), 5 << 30)], "larger than the workspace limit"),
    ];
    let unpacked: Vec<(&str, Vec<Entry>)> = vec![
        (
            "hardlinks",
            vec![
                Entry::Hardlink(format!("{TOP}/skel/hard"), format!("{root}/outside/secret.txt")),
                Entry::Hardlink(format!("{TOP}/skel/hard-relative"), "../../../../outside/secret.txt".to_owned()),
            ],
        ),
        ("fifo", vec![Entry::Fifo(format!("{TOP}/skel/pipe"))]),
        (
            "escaping-links",
            vec![
                Entry::Symlink(format!("{TOP}/skel/leak"), format!("{root}/outside/secret.txt")),
                Entry::Symlink(format!("{TOP}/skel/chain-a"), "chain-b".to_owned()),
                Entry::Symlink(format!("{TOP}/skel/chain-b"), "../../outside".to_owned()),
                Entry::Symlink(format!("{TOP}/skel/dangling"), format!("{root}/outside/empty/later")),
            ],
        ),
    ];
    let mount = |case: &str, entries: &[Entry]| {
        Mock::given(method("GET"))
            .and(path(format!("/repos/acme/{case}/tarball/main")))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(archive(entries)))
    };
    for (case, entries, _) in &refused {
        mount(case, entries).mount(&github).await;
    }
    for (case, entries) in &unpacked {
        mount(case, entries).mount(&github).await;
    }
    let steps = |case: &str| {
        json!([
            step("fetch:plain", json!({"url": format!("https://github.test/acme/{case}/tree/main/skel"), "targetPath": "a/b"})),
            {"id": "list", "name": "List", "action": "debug:log", "input": {"listWorkspace": "with-contents"}},
        ])
    };
    for (case, _, message) in &refused {
        let reply = target.dry_run(steps(case), &[], Value::Null).await;
        reply.assert_refused(500, "Error", message);
        assert!(reply.json()["error"]["message"].as_str().unwrap().starts_with("Reading the directory skel of acme/"));
        target.assert_contained();
    }
    for (case, _) in &unpacked {
        let reply = target.dry_run(steps(case), &[], Value::Null).await;
        assert_eq!(reply.status, 200, "{case}: {}", reply.text);
        let files = reply.files();
        assert_eq!(files.keys().collect::<Vec<_>>(), ["a/b/ok.txt"], "{case}: only the plain file arrives");
        let log = reply.log().join("\n");
        if *case == "escaping-links" {
            for link in ["leak", "chain-a", "chain-b", "dangling"] {
                assert!(log.contains(&format!("Skipping the symbolic link {link}")), "{case}: {link}\n{log}");
            }
        }
        target.assert_contained();
    }
    // Nothing is left in the scratch directory.
    let tmp = target.path("tmp");
    crate::support::eventually(std::time::Duration::from_secs(10), "the scratch directories to go", || async {
        std::fs::read_dir(&tmp).unwrap().next().is_none().then_some(())
    })
    .await;
    target.assert_unharmed().await;
}
