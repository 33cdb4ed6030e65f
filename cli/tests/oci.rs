//! `priority-guard push` and `pull` against a real registry: Debian's `docker-registry` (Docker's distribution),
//! started on 127.0.0.1 with a free port, temporary storage and htpasswd users, so that the credentials are
//! read from a docker configuration as they would be for a registry on the internet.
//!
//! What is pushed is checked over the registry's HTTP API by this test itself, not by the client that pushed
//! it: the manifest's media types, annotations and digests, and the blobs.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use base64::Engine;
use common::{Scratch, root, text};
use serde_json::Value;
use sha2::{Digest, Sha256};

const USER: &str = "pg-tester";
const PASSWORD: &str = "pg-test-password";
const REPOSITORY: &str = "policies/priority-guard";
const WASM_LAYER: &str = "application/vnd.wasm.content.layer.v1+wasm";
const WASM_CONFIG: &str = "application/vnd.wasm.config.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// The registry, stopped on drop.
struct Registry {
    child: Child,
    address: String,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Debian's registry binary (`apt-get install docker-registry`), or `PRIORITY_GUARD_REGISTRY`.
fn registry_binary() -> PathBuf {
    let path = std::env::var_os("PRIORITY_GUARD_REGISTRY")
        .map_or_else(|| PathBuf::from("/usr/bin/docker-registry"), PathBuf::from);
    assert!(
        path.is_file(),
        "{} not found: install Debian's registry (apt-get install docker-registry; `make test` does) or point \
         PRIORITY_GUARD_REGISTRY at a Docker distribution `registry` binary",
        path.display()
    );
    path
}

impl Registry {
    /// Starts a registry on a free port of 127.0.0.1 over plain HTTP, storing under `scratch`, with the test user.
    fn start(scratch: &Scratch) -> Self {
        Self::start_at(scratch, "127.0.0.1", None)
    }

    /// Starts a registry on a free port of `ip`, with TLS when given `(certificate, key)` files.
    fn start_at(scratch: &Scratch, ip: &str, tls: Option<(&Path, &Path)>) -> Self {
        let port = TcpListener::bind((ip, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = format!("{ip}:{port}");
        let storage = scratch.path("storage");
        let htpasswd = root().join("cli/tests/registry/htpasswd");
        let tls = tls.map_or_else(String::new, |(certificate, key)| {
            format!(
                ", tls: {{certificate: '{}', key: '{}'}}",
                certificate.display(),
                key.display()
            )
        });
        let config = scratch.write(
            "registry.yml",
            format!(
                "version: 0.1\n\
                 log: {{level: error, accesslog: {{disabled: true}}}}\n\
                 storage: {{filesystem: {{rootdirectory: '{}'}}}}\n\
                 auth: {{htpasswd: {{realm: priority-guard-test, path: '{}'}}}}\n\
                 http: {{addr: '{address}'{tls}}}\n",
                storage.display(),
                htpasswd.display()
            ),
        );
        let child = Command::new(registry_binary())
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut registry = Self { child, address };
        // Ready when the port accepts connections. At most 10 s.
        for _ in 0..200 {
            if let Some(status) = registry.child.try_wait().unwrap() {
                panic!("the registry exited at start ({status}); config:\n{config:?}");
            }
            if TcpStream::connect(&registry.address).is_ok() {
                return registry;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the registry did not answer on {}", registry.address);
    }

    /// A plain HTTP/1.1 GET, with the test user's credentials if `auth`.
    fn get(&self, path: &str, headers: &[(&str, &str)], auth: bool) -> std::io::Result<Response> {
        let mut stream = TcpStream::connect(&self.address)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.address
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        if auth {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
            request.push_str(&format!("Authorization: Basic {token}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes())?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        Ok(Response::parse(&raw))
    }

    fn reference(&self, tag: &str) -> String {
        format!("{}/{REPOSITORY}:{tag}", self.address)
    }
}

/// An HTTP response, its body de-chunked.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn parse(raw: &[u8]) -> Self {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("an HTTP response");
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .expect("a status line");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let mut body = raw[split + 4..].to_vec();
        let chunked = headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
        if chunked {
            let mut out = Vec::new();
            let mut rest = body.as_slice();
            loop {
                let end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
                let size = usize::from_str_radix(
                    String::from_utf8_lossy(&rest[..end])
                        .split(';')
                        .next()
                        .unwrap()
                        .trim(),
                    16,
                )
                .unwrap();
                if size == 0 {
                    break;
                }
                out.extend_from_slice(&rest[end + 2..end + 2 + size]);
                rest = &rest[end + 2 + size + 2..];
            }
            body = out;
        }
        Self {
            status,
            headers,
            body,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn sha256(data: &[u8]) -> String {
    let hex: String = Sha256::digest(data)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// Runs `priority-guard` with `DOCKER_CONFIG` set to `docker_config`.
fn priority_guard(docker_config: &Path, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    priority_guard_trusting(docker_config, None, args)
}

/// Runs `priority-guard` with `DOCKER_CONFIG`, trusting only the certificates in `ca` (OpenSSL's
/// `SSL_CERT_FILE`; `SSL_CERT_DIR` is emptied so the system's authorities are not used).
fn priority_guard_trusting(
    docker_config: &Path,
    ca: Option<&Path>,
    args: &[&dyn AsRef<std::ffi::OsStr>],
) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_priority-guard"));
    command
        .args(args.iter().map(|a| a.as_ref()))
        .env("DOCKER_CONFIG", docker_config)
        .env_remove("PRIORITY_GUARD_POLICY_LOG");
    if let Some(ca) = ca {
        command
            .env("SSL_CERT_FILE", ca)
            .env("SSL_CERT_DIR", ca.with_extension("d"));
    }
    command.output().unwrap()
}

/// The test user's entry in a docker configuration under `scratch`, for `registry`; returns its folder.
fn docker_login(scratch: &Scratch, registry: &Registry) -> PathBuf {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let config = scratch.write(
        "docker/config.json",
        serde_json::json!({"auths": {registry.address.as_str(): {"auth": auth}}}).to_string(),
    );
    config.parent().unwrap().to_owned()
}

/// The host's test guest annotated with the repository's metadata and usage text (a multi-line annotation that
/// must not reach the manifest); returns (plain, annotated) paths.
fn annotated_guest(scratch: &Scratch, docker_config: &Path) -> (PathBuf, PathBuf) {
    let plain = scratch.guest();
    let annotated = scratch.path("annotated.wasm");
    let output = priority_guard(
        docker_config,
        &[
            &"annotate",
            &"-m",
            &root().join("metadata.yml"),
            &"-u",
            &root().join("docs/policy-usage.md"),
            &"-o",
            &annotated,
            &plain,
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    (plain, annotated)
}

/// The digest at the end of `pushed REF@sha256:...` / `pulled REF@sha256:... to FILE`.
fn printed_digest(output: &Output) -> String {
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let at = stdout.find("@sha256:").expect("a digest is printed");
    stdout[at + 1..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// The repository's metadata.yml annotations.
fn metadata_annotations() -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(root().join("metadata.yml")).unwrap();
    let metadata: Value = serde_yaml_ng::from_str(&text).unwrap();
    metadata["annotations"].as_object().unwrap().clone()
}

#[test]
fn push_and_pull_through_a_real_registry() {
    let scratch = Scratch::new("registry");
    let registry = Registry::start(&scratch);
    let logged_in = &docker_login(&scratch, &registry);
    let anonymous = scratch.path("nobody");
    let (plain, annotated) = annotated_guest(&scratch, logged_in);
    let wasm = std::fs::read(&annotated).unwrap();

    // An unannotated module is refused before anything is sent.
    let output = priority_guard(logged_in, &[&"push", &plain, &registry.reference("plain")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("is not annotated"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(
        registry
            .get(&format!("/v2/{REPOSITORY}/tags/list"), &[], true)
            .unwrap()
            .status,
        404
    );

    // Without credentials the registry refuses, and the error says so.
    let output = priority_guard(
        &anonymous,
        &[&"push", &annotated, &registry.reference("v0.1.0")],
    );
    assert_eq!(output.status.code(), Some(1));
    let err = text(&output.stderr);
    assert!(
        err.contains("cannot push to") && err.contains("code: 401"),
        "{err}"
    );

    // Push with the credentials of the docker configuration.
    let output = priority_guard(
        logged_in,
        &[&"push", &annotated, &registry.reference("v0.1.0")],
    );
    let pushed = printed_digest(&output);

    // The manifest, as the registry serves it.
    let manifest = registry
        .get(
            &format!("/v2/{REPOSITORY}/manifests/v0.1.0"),
            &[("Accept", OCI_MANIFEST)],
            true,
        )
        .unwrap();
    assert_eq!(manifest.status, 200, "{}", text(&manifest.body));
    assert_eq!(
        sha256(&manifest.body),
        pushed,
        "the printed digest is the manifest's"
    );
    assert_eq!(
        manifest.header("docker-content-digest"),
        Some(pushed.as_str())
    );
    let doc: Value = serde_json::from_slice(&manifest.body).unwrap();
    assert_eq!(doc["schemaVersion"], 2);
    assert_eq!(doc["mediaType"], OCI_MANIFEST);
    assert_eq!(doc["config"]["mediaType"], WASM_CONFIG);
    assert_eq!(doc["config"]["digest"], sha256(b"{}"));
    assert_eq!(doc["config"]["size"], 2);
    let layers = doc["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "one layer: {doc}");
    assert_eq!(layers[0]["mediaType"], WASM_LAYER);
    assert_eq!(layers[0]["digest"], sha256(&wasm));
    assert_eq!(layers[0]["size"], wasm.len());

    // Annotations: every (single-line) annotation of metadata.yml, the OCI source, and not the usage text.
    let mut expected = metadata_annotations();
    assert!(
        expected
            .values()
            .all(|v| !v.as_str().unwrap().contains('\n'))
    );
    expected.insert(
        "org.opencontainers.image.source".into(),
        expected["io.kubewarden.policy.source"].clone(),
    );
    assert_eq!(doc["annotations"], Value::Object(expected));

    // The blobs are what was pushed.
    let config = registry
        .get(
            &format!("/v2/{REPOSITORY}/blobs/{}", sha256(b"{}")),
            &[],
            true,
        )
        .unwrap();
    assert_eq!(
        (config.status, config.body.as_slice()),
        (200, b"{}".as_slice())
    );

    // Pull it back, by tag and by digest.
    let pulled = scratch.path("pulled.wasm");
    let output = priority_guard(
        logged_in,
        &[&"pull", &registry.reference("v0.1.0"), &"-o", &pulled],
    );
    assert_eq!(printed_digest(&output), pushed);
    assert_eq!(
        std::fs::read(&pulled).unwrap(),
        wasm,
        "the same module comes back"
    );
    let by_digest = format!("{}/{REPOSITORY}@{pushed}", registry.address);
    let again = scratch.path("again.wasm");
    let output = priority_guard(logged_in, &[&"pull", &by_digest, &"-o", &again]);
    assert_eq!(printed_digest(&output), pushed);
    assert_eq!(sha256(&std::fs::read(&again).unwrap()), sha256(&wasm));

    // A tag that is not there.
    let missing = scratch.path("missing.wasm");
    let output = priority_guard(
        logged_in,
        &[&"pull", &registry.reference("v9.9.9"), &"-o", &missing],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("cannot pull"),
        "{}",
        text(&output.stderr)
    );
    assert!(!missing.exists());
}

/// A self-signed certificate (and its key) for `ip`, made with the openssl command.
fn certificate(scratch: &Scratch, ip: &str) -> (PathBuf, PathBuf) {
    let (certificate, key) = (scratch.path("registry.crt"), scratch.path("registry.key"));
    let output = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", &format!("/CN={ip}")])
        .args(["-addext", &format!("subjectAltName=IP:{ip}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&certificate)
        .output()
        .expect("the openssl command runs");
    assert!(output.status.success(), "{}", text(&output.stderr));
    (certificate, key)
}

#[test]
fn push_and_pull_over_https_with_credentials() {
    // 127.0.0.2: a loopback address that is not one of the plain-HTTP names, so HTTPS is used as for any
    // registry on the internet.
    let scratch = Scratch::new("https");
    let (certificate, key) = certificate(&scratch, "127.0.0.2");
    let registry = Registry::start_at(&scratch, "127.0.0.2", Some((&certificate, &key)));
    let logged_in = &docker_login(&scratch, &registry);
    let (_, annotated) = annotated_guest(&scratch, logged_in);
    let wasm = std::fs::read(&annotated).unwrap();
    let reference = registry.reference("v0.1.0");

    // An unknown certificate is refused: TLS is verified.
    let output = priority_guard(logged_in, &[&"push", &annotated, &reference]);
    assert_eq!(output.status.code(), Some(1));
    let err = text(&output.stderr);
    assert!(
        err.contains("cannot push to") && err.contains("certificate"),
        "{err}"
    );

    let output = priority_guard_trusting(
        logged_in,
        Some(&certificate),
        &[&"push", &annotated, &reference],
    );
    let pushed = printed_digest(&output);
    let pulled = scratch.path("pulled.wasm");
    let output = priority_guard_trusting(
        logged_in,
        Some(&certificate),
        &[&"pull", &reference, &"-o", &pulled],
    );
    assert_eq!(printed_digest(&output), pushed);
    assert_eq!(std::fs::read(&pulled).unwrap(), wasm);
}

#[test]
fn push_refuses_references_without_a_registry() {
    let scratch = Scratch::new("reference");
    let output = priority_guard(
        &scratch.path("nobody"),
        &[
            &"push",
            &scratch.write("x.wasm", b"\0asm\x01\0\0\0"),
            &"policy:v1",
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("names no registry"),
        "{}",
        text(&output.stderr)
    );
}
