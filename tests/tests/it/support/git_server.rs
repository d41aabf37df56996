//! A real git server over real HTTP: `git http-backend` (the CGI program that ships with git)
//! behind a small axum server that checks the token the way GitHub does (basic auth, user
//! `x-access-token`). Repositories are bare repositories under a temporary directory; tests
//! create them (as GitHub would on "create repository") and clone them back to check pushes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine;
use tokio::io::AsyncWriteExt;

pub struct GitServer {
    root: tempfile::TempDir,
    pub address: SocketAddr,
    shared: Arc<Shared>,
}

struct Shared {
    root: PathBuf,
    token: String,
    /// Authorization headers seen, for asserting what credentials arrived.
    seen_auth: Mutex<Vec<String>>,
    pushes: AtomicUsize,
    /// When set, pushes (receive-pack) answer 500, as a failing network or server would.
    fail_pushes: AtomicBool,
}

impl GitServer {
    pub async fn start(token: &str) -> GitServer {
        let root = tempfile::tempdir().unwrap();
        let shared = Arc::new(Shared {
            root: root.path().to_path_buf(),
            token: token.to_owned(),
            seen_auth: Mutex::new(Vec::new()),
            pushes: AtomicUsize::new(0),
            fail_pushes: AtomicBool::new(false),
        });
        let app = axum::Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        GitServer { root, address, shared }
    }

    /// Creates an empty bare repository `owner/name.git`; returns its clone URL.
    pub fn create_repository(&self, owner: &str, name: &str) -> String {
        let path = self.root.path().join(owner).join(format!("{name}.git"));
        std::fs::create_dir_all(&path).unwrap();
        git(&path, &["init", "--bare", "--quiet", "--initial-branch=main"]);
        self.clone_url(owner, name)
    }

    pub fn clone_url(&self, owner: &str, name: &str) -> String {
        format!("http://{}/{owner}/{name}.git", self.address)
    }

    pub fn pushes(&self) -> usize {
        self.shared.pushes.load(Ordering::SeqCst)
    }

    pub fn fail_pushes(&self, fail: bool) {
        self.shared.fail_pushes.store(fail, Ordering::SeqCst);
    }

    pub fn seen_authorizations(&self) -> Vec<String> {
        self.shared.seen_auth.lock().unwrap().clone()
    }

    /// Clones `owner/name` into a new directory with the git command line.
    pub fn clone_into(&self, owner: &str, name: &str, directory: &Path) {
        let url = format!("http://x-access-token:{}@{}/{owner}/{name}.git", self.shared.token, self.address);
        let output = std::process::Command::new("git")
            .args(["clone", "--quiet", &url])
            .arg(directory)
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .unwrap();
        assert!(output.status.success(), "git clone failed: {}", String::from_utf8_lossy(&output.stderr));
    }
}

/// Runs `git` in `directory`, returning stdout.
pub fn git(directory: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new("git").args(args).current_dir(directory).output().unwrap();
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let authorization = parts.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    shared.seen_auth.lock().unwrap().push(authorization.clone());
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{}", shared.token))
    );
    if authorization != expected {
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header("www-authenticate", "Basic realm=\"git\"")
            .body(Body::from("bad credentials"))
            .unwrap();
    }
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or_default().to_owned();
    let receive = path.ends_with("/git-receive-pack") || query.contains("service=git-receive-pack");
    if receive && shared.fail_pushes.load(Ordering::SeqCst) {
        return Response::builder().status(StatusCode::INTERNAL_SERVER_ERROR).body(Body::from("push refused")).unwrap();
    }
    if path.ends_with("/git-receive-pack") {
        shared.pushes.fetch_add(1, Ordering::SeqCst);
    }
    let body: Bytes = axum::body::to_bytes(body, 64 << 20).await.unwrap();
    cgi(&shared.root, parts.method.as_str(), &path, &query, &parts.headers, body).await
}

/// One `git http-backend` run, speaking CGI.
async fn cgi(root: &Path, method: &str, path: &str, query: &str, headers: &HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let mut child = tokio::process::Command::new("git")
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .env("REMOTE_USER", "x-access-token")
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
    });
    let output = child.wait_with_output().await.unwrap();
    writer.await.unwrap();
    let raw = output.stdout;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((end, gap)) = split else {
        return Response::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .body(Body::from(String::from_utf8_lossy(&output.stderr).into_owned()))
            .unwrap();
    };
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut response = Response::builder();
    let mut status = StatusCode::OK;
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            status = value
                .split(' ')
                .next()
                .and_then(|s| s.parse().ok())
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(status);
        } else {
            response = response.header(name, value);
        }
    }
    response.status(status).body(Body::from(raw[end + gap..].to_vec())).unwrap()
}
