//! Test harness: starts the real `palisade` binary on loopback, port 0, and talks to it
//! over real TLS.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

pub const BIN: &str = env!("CARGO_BIN_EXE_palisade");

/// An edit of a config (or any test input) that must apply: a pattern that no longer
/// matches would silently leave the default in place and test the wrong thing.
pub trait Edit {
    fn edit(&self, from: &str, to: &str) -> String;
}

impl Edit for str {
    #[track_caller]
    fn edit(&self, from: &str, to: &str) -> String {
        assert!(
            self.contains(from),
            "test edit did not apply: {from:?} is not in\n{self}"
        );
        self.replace(from, to)
    }
}

pub struct Palisade {
    pub ready: Value,
    /// The state folder; owned (removed on drop) unless shared with another instance.
    pub dir: Option<tempfile::TempDir>,
    state_dir: PathBuf,
    pub child: Child,
    pub data: String,
    pub admin: String,
    pub data_port: u16,
    pub admin_port: u16,
    pub stderr: PathBuf,
}

impl Palisade {
    pub fn state(&self) -> &Path {
        &self.state_dir
    }

    /// A fresh demo state, served.
    pub fn demo() -> Palisade {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(BIN);
        cmd.args(["demo", "--port", "0", "--admin-port", "0", "--state-dir"])
            .arg(dir.path());
        Self::spawn(dir, cmd)
    }

    /// A demo state whose palisade.toml was edited by `edit`, served with `serve --config`.
    pub fn with_config(edit: impl FnOnce(String) -> String) -> Palisade {
        Self::with_setup(|_, text| edit(text))
    }

    /// A demo state prepared by `setup` (given the state folder and the config text, it
    /// returns the new config text), served with `serve --config`.
    pub fn with_setup(setup: impl FnOnce(&Path, String) -> String) -> Palisade {
        let dir = tempfile::tempdir().unwrap();
        create_demo_state(dir.path());
        let path = dir.path().join("palisade.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let text = text
            .edit("127.0.0.1:8443", "127.0.0.1:0")
            .edit("127.0.0.1:9443", "127.0.0.1:0");
        let text = setup(dir.path(), text);
        std::fs::write(&path, text).unwrap();
        let mut cmd = Command::new(BIN);
        cmd.arg("serve").arg("--config").arg(&path);
        Self::spawn(dir, cmd)
    }

    /// Another server on the state folder of `self`, with its own config file `name` (made
    /// from `self`'s by `edit`) and stderr log; for replicas sharing keys, models and TLS.
    pub fn replica(&self, name: &str, edit: impl FnOnce(String) -> String) -> Palisade {
        let text = std::fs::read_to_string(self.state().join("palisade.toml")).unwrap();
        let path = self.state().join(format!("{name}.toml"));
        std::fs::write(&path, edit(text)).unwrap();
        let mut cmd = Command::new(BIN);
        cmd.arg("serve").arg("--config").arg(&path);
        Self::start(
            None,
            self.state().to_path_buf(),
            &format!("{name}.stderr.log"),
            cmd,
        )
    }

    fn spawn(dir: tempfile::TempDir, cmd: Command) -> Palisade {
        let state = dir.path().to_path_buf();
        Self::start(Some(dir), state, "stderr.log", cmd)
    }

    fn start(
        dir: Option<tempfile::TempDir>,
        state_dir: PathBuf,
        log_name: &str,
        mut cmd: Command,
    ) -> Palisade {
        let stderr = state_dir.join(log_name);
        let log = std::fs::File::create(&stderr).unwrap();
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let line = ready_line(&mut child, &stderr);
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|_| {
            panic!(
                "no ready line; stderr:\n{}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            )
        });
        assert_eq!(ready["event"], "ready");
        let data = ready["data_plane"].as_str().unwrap().to_string();
        let admin = ready["admin_plane"].as_str().unwrap().to_string();
        let port = |u: &str| u.rsplit(':').next().unwrap().parse().unwrap();
        Palisade {
            data_port: port(&data),
            admin_port: port(&admin),
            data,
            admin,
            dir,
            state_dir,
            child,
            stderr,
            ready,
        }
    }

    pub fn token(&self, role: &str) -> String {
        std::fs::read_to_string(self.state().join("keys").join(format!("{role}.token"))).unwrap()
    }

    pub fn ca(&self) -> PathBuf {
        self.state().join("tls/ca.pem")
    }

    /// A call on the admin plane with the key of `role`.
    pub async fn admin_call(&self, method: &str, path: &str, role: &str) -> reqwest::Response {
        self.call(&self.admin, method, path, role).await
    }

    /// A call on the data plane with the key of `role`.
    pub async fn data_call(&self, method: &str, path: &str, role: &str) -> reqwest::Response {
        self.call(&self.data, method, path, role).await
    }

    async fn call(&self, base: &str, method: &str, path: &str, role: &str) -> reqwest::Response {
        self.client()
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .header("authorization", format!("Bearer {}", self.token(role)))
            .send()
            .await
            .unwrap()
    }

    /// A client trusting the demo CA and holding the demo's admin certificate (the admin
    /// plane requires one; the demo's data plane does not ask for it).
    pub fn client(&self) -> reqwest::Client {
        client_builder(&self.ca(), false)
            .identity(self.identity("admin"))
            .build()
            .unwrap()
    }

    /// The client certificate and key `tls/<name>.pem|key` as a reqwest identity.
    pub fn identity(&self, name: &str) -> reqwest::Identity {
        let tls = self.state().join("tls");
        let mut pem = std::fs::read(tls.join(format!("{name}.pem"))).unwrap();
        pem.extend(std::fs::read(tls.join(format!("{name}.key"))).unwrap());
        reqwest::Identity::from_pem(&pem).unwrap()
    }

    /// The audit entries on disk, oldest first (every segment, in order).
    pub fn audit_lines(&self) -> Vec<Value> {
        audit_text(self.state())
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The entry for `request_id` in the audit folder `dir` of the state.
    pub fn audit_event_in(&self, dir: &str, request_id: &str) -> Value {
        self.audit_entries_in(dir)
            .into_iter()
            .find(|e| e["request_id"] == request_id)
            .unwrap_or_else(|| panic!("no audit entry for {request_id} in {dir}"))
    }

    /// Every entry in the audit folder `dir` of the state, oldest first.
    pub fn audit_entries_in(&self, dir: &str) -> Vec<Value> {
        let mut segments: Vec<PathBuf> = std::fs::read_dir(self.state().join(dir).join("segments"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .collect();
        segments.sort();
        segments
            .iter()
            .flat_map(|s| {
                std::fs::read_to_string(s)
                    .unwrap()
                    .lines()
                    .map(|l| serde_json::from_str::<Value>(l).unwrap())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Scrape `/metrics` as admin and assert every series (a prefix of its line) is there.
    pub async fn assert_metrics(&self, series: &[&str]) {
        let metrics = self
            .admin_call("GET", "/metrics", "admin")
            .await
            .text()
            .await
            .unwrap();
        for s in series {
            assert!(metrics.contains(s), "{s} missing from:\n{metrics}");
        }
    }

    /// Wait until the audit log holds an event for `request_id` (the writer batches).
    pub fn audit_event(&self, request_id: &str) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(e) = self
                .audit_lines()
                .into_iter()
                .find(|e| e["request_id"] == request_id)
            {
                return e;
            }
            assert!(Instant::now() < deadline, "no audit event for {request_id}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(BIN).args(args).output().unwrap()
    }

    /// Sign every version folder of `model` with the demo's model-signing key (the demo
    /// config requires signatures), as an operator would with `palisade models sign`.
    pub fn sign_model(&self, model: &str) {
        let key = self.state().join("keys/model-signing.key");
        let dir = self.state().join("models").join(model);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let version = entry.unwrap().path();
            if version.is_dir() {
                let out = self.cli(&[
                    "models",
                    "sign",
                    version.to_str().unwrap(),
                    "--key",
                    key.to_str().unwrap(),
                ]);
                assert_success(&out);
            }
        }
    }

    pub fn config_path(&self) -> String {
        self.state().join("palisade.toml").display().to_string()
    }

    /// Send SIGHUP (reload keys, policies and JWT keys).
    pub fn hangup(&self) {
        let status = Command::new("kill")
            .arg("-HUP")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Wait until some audit event satisfies `pred`.
    pub fn wait_for_event(&self, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(e) = self.audit_lines().into_iter().rev().find(|e| pred(e)) {
                return e;
            }
            assert!(Instant::now() < deadline, "no such audit event");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ask the server to stop (SIGTERM) and wait for it.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Palisade {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How long a test waits for something that must happen (an audit entry, a reload, a
/// refusal, a detector's alert) before failing. Generous: a loaded 2-core machine running
/// the whole suite can be many times slower than an idle one, and success returns at once.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// How long a server may take to print its ready line. Sized for a loaded 2-core machine
/// (the demo trains nothing, but loads and self-tests every model while other tests run).
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// The first line the server prints on stdout (its ready line), or a panic naming the
/// stderr log when it does not come within [`START_TIMEOUT`]: a server that hangs at start
/// fails its test instead of hanging the suite. What follows (the demo banner) is drained so
/// the server never writes to a closed pipe.
fn ready_line(child: &mut Child, stderr: &Path) -> String {
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = stdout.read_line(&mut line);
        let _ = tx.send(line);
        let _ = std::io::copy(&mut stdout, &mut std::io::sink());
    });
    match rx.recv_timeout(START_TIMEOUT) {
        Ok(line) => line,
        Err(_) => {
            let _ = child.kill();
            panic!(
                "the server printed no ready line within {START_TIMEOUT:?}; stderr:\n{}",
                std::fs::read_to_string(stderr).unwrap_or_default()
            )
        }
    }
}

/// Run `palisade demo` until it is ready, then stop it: leaves a complete state folder.
pub fn create_demo_state(dir: &Path) {
    let mut child = Command::new(BIN)
        .args(["demo", "--port", "0", "--admin-port", "0", "--state-dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let line = ready_line(&mut child, Path::new("(stderr not kept)"));
    assert!(line.contains("\"ready\""), "demo did not start: {line}");
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}

/// A real `redis-server` on a free loopback port, stopped on drop.
pub struct Redis {
    pub port: u16,
    child: Option<Child>,
}

impl Redis {
    pub fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Redis { port, child: None };
        redis.restart();
        redis
    }

    /// (Re)start on the same port, empty.
    pub fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian package redis-server) must be installed");
        self.child = Some(child);
        let deadline = Instant::now() + PATIENCE;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A command's success, with its standard error shown when it failed.
pub fn assert_success(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn client_with_ca(ca: &Path, http1_only: bool) -> reqwest::Client {
    client_builder(ca, http1_only).build().unwrap()
}

pub fn client_builder(ca: &Path, http1_only: bool) -> reqwest::ClientBuilder {
    let cert = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(cert)
        .https_only(true)
        .timeout(PATIENCE);
    if http1_only {
        b = b.http1_only();
    }
    b
}

pub fn rustls_client(
    ca: &Path,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// A raw TLS connection, for tests that need to misbehave below HTTP.
pub async fn tls_connect(
    port: u16,
    config: rustls::ClientConfig,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

/// Write all of `bytes` and flush. tokio-rustls's `write_all` returns once rustls holds the
/// bytes; when the socket is full (a busy server) the tail stays in rustls's buffer until a
/// flush, and a read does not send it: without this, a test waits for an answer to a request
/// the server never fully received.
pub async fn send_raw(s: &mut TlsStream<TcpStream>, bytes: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    s.write_all(bytes).await?;
    s.flush().await
}

pub fn infer_body(data: &[f32]) -> Value {
    serde_json::json!({ "inputs": [{ "name": "input", "shape": [1, data.len()], "datatype": "FP32", "data": data }] })
}

pub fn request_id(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("x-request-id")
        .expect("x-request-id header")
        .to_str()
        .unwrap()
        .to_string()
}

/// Every segment of the audit log under `state/audit`, concatenated in order.
pub fn audit_text(state: &Path) -> String {
    let mut segments: Vec<PathBuf> = std::fs::read_dir(state.join("audit/segments"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    segments.retain(|p| p.extension().is_some_and(|e| e == "jsonl"));
    segments.sort();
    let mut text = String::new();
    for s in segments {
        let t = std::fs::read_to_string(s).unwrap_or_default();
        // Only whole lines: the writer may be mid-record.
        text.push_str(&t[..t.rfind('\n').map_or(0, |i| i + 1)]);
    }
    text
}

/// Requests an [`HttpsSink`] accepted: (headers, body).
type Accepted = Arc<std::sync::Mutex<Vec<(http::HeaderMap, Vec<u8>)>>>;

/// An HTTPS endpoint started by a test (its own dev CA) that keeps every request it accepts:
/// the webhook receiver, the OTLP collector. Answers 503 to its first `fail_first` requests.
pub struct HttpsSink {
    pub url: String,
    pub ca: PathBuf,
    received: Accepted,
    dir: tempfile::TempDir,
}

/// A loopback HTTPS listener for a test's own endpoint: a dev CA made in `dir`, a server
/// certificate for localhost, and the CA's path for the server under test to trust.
pub async fn https_listener(
    dir: &Path,
) -> (
    tokio::net::TcpListener,
    tokio_rustls::TlsAcceptor,
    u16,
    PathBuf,
) {
    let names = ["localhost".to_string(), "127.0.0.1".to_string()];
    let pki = palisade_gate::tls::create_dev_pki(dir, &names).unwrap();
    let config = palisade_config::Tls {
        cert: pki.server_cert(),
        key: pki.server_key(),
        client_ca: None,
        client_auth: palisade_config::ClientAuth::Off,
        allow_tls12: false,
    };
    let acceptor =
        tokio_rustls::TlsAcceptor::from(palisade_gate::tls::server_config(&config).unwrap());
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    (tcp, acceptor, port, pki.ca_cert())
}

impl HttpsSink {
    pub async fn start(fail_first: usize) -> HttpsSink {
        use http_body_util::BodyExt;
        let dir = tempfile::tempdir().unwrap();
        let (tcp, acceptor, port, ca) = https_listener(dir.path()).await;
        let received: Accepted = Arc::default();
        let attempts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let store = received.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = tcp.accept().await else {
                    continue;
                };
                let (acceptor, store, attempts) =
                    (acceptor.clone(), store.clone(), attempts.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let (store, attempts) = (store.clone(), attempts.clone());
                            async move {
                                let (parts, body) = req.into_parts();
                                let body = body.collect().await.map(|b| b.to_bytes().to_vec());
                                let n = attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                                let status = if n < fail_first { 503 } else { 200 };
                                if let (200, Ok(body)) = (status, body) {
                                    store.lock().unwrap().push((parts.headers, body));
                                }
                                let mut r = hyper::Response::new(http_body_util::Full::new(
                                    bytes::Bytes::new(),
                                ));
                                *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                                Ok::<_, std::convert::Infallible>(r)
                            }
                        },
                    );
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
                });
            }
        });
        HttpsSink {
            url: format!("https://127.0.0.1:{port}/sink"),
            ca,
            received,
            dir,
        }
    }

    /// A scratch folder that lives as long as the sink.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Every accepted request so far: (headers, body).
    pub fn received(&self) -> Vec<(http::HeaderMap, Vec<u8>)> {
        self.received.lock().unwrap().clone()
    }
}
