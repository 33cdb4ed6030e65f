//! A real Kubernetes control plane for the tests: etcd and kube-apiserver (the test assets of the envtest
//! convention) started on free loopback ports in a temporary directory, and a client of its REST API.
//!
//! The binaries come from `KUBEBUILDER_ASSETS` (a directory with `kube-apiserver` and `etcd`), else from `PATH`,
//! else from `../shared/envtest/unpack.sh target/envtest` run from the repository root; kwctl likewise from
//! `KWCTL`, `PATH` or `../shared/kwctl/unpack.sh target/kwctl`. When none is there, [`assets`] and [`kwctl`]
//! fail with a message that says how to provide them.
//!
//! The certificates are made with `openssl`: a CA, a serving certificate for 127.0.0.1 (and
//! `kubernetes.default.svc`, the name kwctl's TLS client checks for an IP address), an admin client certificate
//! in `system:masters`, and a service-account key pair.
//!
//! Both processes are stopped by pid when the [`ControlPlane`] is dropped, and, for a control plane kept in a
//! `static` (which is never dropped), by a watchdog process that waits for the test process to end (its stdin, a
//! pipe from the test process, reaches end of file however the test process ends) and then kills both and
//! removes the directory.

use std::io::Read as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use serde_json::{Value, json};

/// The repository root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The directory next to the repository root that holds the engines (`../shared`).
fn shared() -> PathBuf {
    root().join("..").join("shared")
}

/// Runs an `unpack.sh` of `../shared` with its output directory under `target/`; returns what it prints.
fn unpack(script: &str, out: &str) -> Result<String> {
    let script = shared().join(script);
    if !script.is_file() {
        bail!("{} does not exist", script.display());
    }
    let output = Command::new("bash")
        .arg(&script)
        .arg(root().join("target").join(out))
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {}", script.display()))?;
    if !output.status.success() {
        bail!("{} failed ({})", script.display(), output.status);
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// `name` in a directory of `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// Where kube-apiserver and etcd are.
#[derive(Debug, Clone)]
pub struct Assets {
    /// The kube-apiserver binary.
    pub kube_apiserver: PathBuf,
    /// The etcd binary.
    pub etcd: PathBuf,
}

/// Finds kube-apiserver and etcd: `KUBEBUILDER_ASSETS`, `PATH`, then `../shared/envtest/unpack.sh`.
pub fn assets() -> Result<Assets> {
    let in_dir = |dir: &Path| Assets {
        kube_apiserver: dir.join("kube-apiserver"),
        etcd: dir.join("etcd"),
    };
    let found = |a: &Assets| a.kube_apiserver.is_file() && a.etcd.is_file();
    if let Some(dir) = std::env::var_os("KUBEBUILDER_ASSETS") {
        let assets = in_dir(Path::new(&dir));
        if !found(&assets) {
            bail!(
                "KUBEBUILDER_ASSETS={} has no kube-apiserver and etcd",
                Path::new(&dir).display()
            );
        }
        return Ok(assets);
    }
    if let (Some(kube_apiserver), Some(etcd)) = (on_path("kube-apiserver"), on_path("etcd")) {
        return Ok(Assets {
            kube_apiserver,
            etcd,
        });
    }
    let unpacked = unpack("envtest/unpack.sh", "envtest").map(|dir| in_dir(Path::new(&dir)));
    match unpacked {
        Ok(assets) if found(&assets) => Ok(assets),
        Ok(assets) => bail!("unpack.sh did not provide {assets:?}"),
        Err(e) => Err(e.context(
            "kube-apiserver and etcd not found: set KUBEBUILDER_ASSETS to a directory holding both (e.g. \
             `export KUBEBUILDER_ASSETS=$(../shared/envtest/unpack.sh target/envtest)`), put them on PATH, or \
             check out ../shared/envtest next to the repository (its unpack.sh installs Debian's etcd-server)",
        )),
    }
}

/// Finds kwctl: `KWCTL`, `PATH`, then `../shared/kwctl/unpack.sh`.
pub fn kwctl() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("KWCTL") {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("KWCTL={} is not a file", path.display());
        }
        return Ok(path);
    }
    if let Some(path) = on_path("kwctl") {
        return Ok(path);
    }
    match unpack("kwctl/unpack.sh", "kwctl") {
        Ok(path) if Path::new(&path).is_file() => Ok(PathBuf::from(path)),
        Ok(path) => bail!("unpack.sh printed {path}, which is not a file"),
        Err(e) => Err(e.context(
            "kwctl not found: set KWCTL to the kwctl binary (e.g. `export KWCTL=$(../shared/kwctl/unpack.sh \
             target/kwctl)`), put it on PATH, or check out ../shared/kwctl next to the repository",
        )),
    }
}

/// A free TCP port of 127.0.0.1 (free when asked; the processes bind it right after).
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn openssl(dir: &Path, args: &[&str]) -> Result<()> {
    let output = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .context("cannot run openssl (apt-get install openssl)")?;
    if !output.status.success() {
        bail!(
            "openssl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// The CA, serving, client and service-account keys the control plane needs, in `dir`.
fn certificates(dir: &Path) -> Result<()> {
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n",
    )?;
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n")?;
    let steps: &[&[&str]] = &[
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=priority-guard-test-ca",
        ],
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "apiserver.key",
            "-out",
            "apiserver.csr",
            "-subj",
            "/CN=kube-apiserver",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "apiserver.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "apiserver.crt",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "admin.key",
            "-out",
            "admin.csr",
            "-subj",
            "/O=system:masters/CN=admin",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "admin.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "admin.crt",
            "-days",
            "2",
            "-extfile",
            "client.ext",
        ],
        &["genrsa", "-out", "sa.key", "2048"],
        &["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"],
    ];
    for step in steps {
        openssl(dir, step)?;
    }
    Ok(())
}

/// The answer of the apiserver to one call.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The body (a Kubernetes object or a Status).
    pub body: Value,
    /// The texts of the `Warning` headers (`299 - "<text>"`), in order: what `kubectl` prints as
    /// `Warning: <text>`.
    pub warnings: Vec<String>,
}

/// The text of a `Warning` header (RFC 7234: `<code> <agent> "<text>"`, the text with `\` escapes).
fn warning_text(header: &str) -> Option<String> {
    let quoted = header.split_once('"')?.1;
    let mut text = String::new();
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => text.extend(chars.next()),
            '"' => return Some(text),
            c => text.push(c),
        }
    }
    None
}

impl Reply {
    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The message of a Status body.
    pub fn message(&self) -> String {
        self.body["message"]
            .as_str()
            .map_or_else(|| self.body.to_string(), str::to_owned)
    }

    /// The body of a 2xx reply, or an error with the status and message.
    pub fn into_ok(self) -> Result<Value> {
        if self.ok() {
            Ok(self.body)
        } else {
            Err(anyhow!("{}: {}", self.status, self.message()))
        }
    }
}

/// The REST path of a resource: its collection, or one object with `name`.
pub fn resource_path(
    group: &str,
    version: &str,
    resource: &str,
    namespace: Option<&str>,
    name: Option<&str>,
) -> String {
    let mut path = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    if let Some(namespace) = namespace.filter(|n| !n.is_empty()) {
        path.push_str(&format!("/namespaces/{namespace}"));
    }
    path.push('/');
    path.push_str(resource);
    if let Some(name) = name {
        path.push('/');
        path.push_str(name);
    }
    path
}

/// The REST path of an object of a kind the tests create (its `apiVersion`, `kind` and `metadata`); `name`
/// false for its collection.
pub fn object_path(object: &Value, with_name: bool) -> Result<String> {
    let api_version = object["apiVersion"].as_str().unwrap_or("");
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let kind = object["kind"].as_str().unwrap_or("");
    let resource = match kind {
        "Namespace" => "namespaces",
        "ServiceAccount" => "serviceaccounts",
        "ConfigMap" => "configmaps",
        "Pod" => "pods",
        "PriorityClass" => "priorityclasses",
        "CustomResourceDefinition" => "customresourcedefinitions",
        "ValidatingAdmissionPolicy" => "validatingadmissionpolicies",
        "ValidatingAdmissionPolicyBinding" => "validatingadmissionpolicybindings",
        "MutatingAdmissionPolicy" => "mutatingadmissionpolicies",
        "MutatingAdmissionPolicyBinding" => "mutatingadmissionpolicybindings",
        "MutatingWebhookConfiguration" => "mutatingwebhookconfigurations",
        "ValidatingWebhookConfiguration" => "validatingwebhookconfigurations",
        "Deployment" => "deployments",
        "ClusterRole" => "clusterroles",
        "ClusterRoleBinding" => "clusterrolebindings",
        "PolicyReport" => "policyreports",
        "ClusterPolicyReport" => "clusterpolicyreports",
        other => bail!("no resource known for kind {other:?}"),
    };
    let name = object["metadata"]["name"].as_str();
    Ok(resource_path(
        group,
        version,
        resource,
        object["metadata"]["namespace"].as_str(),
        name.filter(|_| with_name),
    ))
}

/// etcd and kube-apiserver, running.
pub struct ControlPlane {
    dir: PathBuf,
    etcd: Child,
    apiserver: Child,
    /// The watchdog's stdin: it stops both processes when this closes.
    _watchdog: Option<ChildStdin>,
    url: String,
    kubeconfig: PathBuf,
    client: reqwest::blocking::Client,
    round: AtomicU64,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane")
            .field("url", &self.url)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        for child in [&mut self.apiserver, &mut self.etcd] {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A process's log, for an error message.
fn log_tail(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        let _ = file.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

impl ControlPlane {
    /// Starts etcd and kube-apiserver (serving `admissionregistration.k8s.io/v1beta1` too, for the
    /// MutatingAdmissionPolicy of Kubernetes 1.34 and 1.35) and waits until the apiserver is ready and has its
    /// system PriorityClasses.
    pub fn start() -> Result<Self> {
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let assets = assets()?;
        let dir = std::env::temp_dir().join(format!(
            "priority-guard-envtest-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        certificates(&dir)?;
        let (etcd_port, peer_port, port) = (free_port()?, free_port()?, free_port()?);
        let log =
            |name: &str| -> Result<std::fs::File> { Ok(std::fs::File::create(dir.join(name))?) };
        let etcd = Command::new(&assets.etcd)
            .current_dir(&dir)
            .args(["--name", "t", "--data-dir"])
            .arg(dir.join("etcd-data"))
            .arg(format!("--listen-client-urls=http://127.0.0.1:{etcd_port}"))
            .arg(format!(
                "--advertise-client-urls=http://127.0.0.1:{etcd_port}"
            ))
            .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer_port}"))
            .arg(format!(
                "--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}"
            ))
            .arg(format!("--initial-cluster=t=http://127.0.0.1:{peer_port}"))
            .stdin(Stdio::null())
            .stdout(log("etcd.log")?)
            .stderr(log("etcd.log")?)
            .spawn()
            .with_context(|| format!("cannot start {}", assets.etcd.display()))?;
        let d = |name: &str| dir.join(name).display().to_string();
        let apiserver = Command::new(&assets.kube_apiserver)
            .current_dir(&dir)
            .args([
                "--bind-address=127.0.0.1".to_owned(),
                "--advertise-address=127.0.0.1".to_owned(),
                format!("--secure-port={port}"),
                format!("--etcd-servers=http://127.0.0.1:{etcd_port}"),
                format!("--tls-cert-file={}", d("apiserver.crt")),
                format!("--tls-private-key-file={}", d("apiserver.key")),
                format!("--client-ca-file={}", d("ca.crt")),
                format!("--service-account-key-file={}", d("sa.pub")),
                format!("--service-account-signing-key-file={}", d("sa.key")),
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local".to_owned(),
                "--api-audiences=https://kubernetes.default.svc.cluster.local".to_owned(),
                "--service-cluster-ip-range=10.96.0.0/16".to_owned(),
                "--authorization-mode=RBAC".to_owned(),
                "--allow-privileged=true".to_owned(),
                "--endpoint-reconciler-type=none".to_owned(),
                format!("--cert-dir={}", d("certs")),
                "--runtime-config=admissionregistration.k8s.io/v1beta1=true".to_owned(),
            ])
            .stdin(Stdio::null())
            .stdout(log("apiserver.log")?)
            .stderr(log("apiserver.log")?)
            .spawn();
        let apiserver = match apiserver {
            Ok(child) => child,
            Err(e) => {
                let mut etcd = etcd;
                let _ = etcd.kill();
                let _ = etcd.wait();
                return Err(e)
                    .with_context(|| format!("cannot start {}", assets.kube_apiserver.display()));
            }
        };
        // The watchdog: when the test process ends, its end of the pipe closes and `read` returns.
        let watchdog = Command::new("sh")
            .args([
                "-c",
                "read _ ; kill \"$1\" \"$2\" 2>/dev/null; sleep 2; kill -9 \"$1\" \"$2\" 2>/dev/null; rm -rf \"$3\"",
                "watchdog",
            ])
            .arg(apiserver.id().to_string())
            .arg(etcd.id().to_string())
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()
            .and_then(|mut child| child.stdin.take());
        let client = Self::client(&dir)?;
        let url = format!("https://127.0.0.1:{port}");
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            serde_json::to_string_pretty(&json!({
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "envtest", "cluster": {"server": url, "certificate-authority": d("ca.crt")}}],
                "users": [{"name": "admin", "user": {"client-certificate": d("admin.crt"), "client-key": d("admin.key")}}],
                "contexts": [{"name": "envtest", "context": {"cluster": "envtest", "user": "admin"}}],
                "current-context": "envtest",
            }))?,
        )?;
        let mut plane = Self {
            dir,
            etcd,
            apiserver,
            _watchdog: watchdog,
            url,
            kubeconfig,
            client,
            round: AtomicU64::new(0),
        };
        plane.wait_ready()?;
        Ok(plane)
    }

    fn client(dir: &Path) -> Result<reqwest::blocking::Client> {
        let ca = reqwest::Certificate::from_pem(&std::fs::read(dir.join("ca.crt"))?)?;
        let identity = reqwest::Identity::from_pkcs8_pem(
            &std::fs::read(dir.join("admin.crt"))?,
            &std::fs::read(dir.join("admin.key"))?,
        )?;
        Ok(reqwest::blocking::Client::builder()
            .add_root_certificate(ca)
            .identity(identity)
            .timeout(Duration::from_secs(60))
            .build()?)
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            for (name, child) in [
                ("etcd", &mut self.etcd),
                ("kube-apiserver", &mut self.apiserver),
            ] {
                if let Some(status) = child.try_wait()? {
                    let log = if name == "etcd" {
                        "etcd.log"
                    } else {
                        "apiserver.log"
                    };
                    bail!(
                        "{name} exited at start ({status}):\n{}",
                        log_tail(&self.dir.join(log))
                    );
                }
            }
            let ready = self.get("/readyz").is_ok_and(|r| r.ok())
                && self
                    .get("/apis/scheduling.k8s.io/v1/priorityclasses/system-node-critical")
                    .is_ok_and(|r| r.ok());
            if ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "kube-apiserver was not ready within 120 s:\n{}",
                    log_tail(&self.dir.join("apiserver.log"))
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The apiserver's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A kubeconfig file for the admin user.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The temporary directory of this control plane (removed when it stops).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The CA certificate that signed the serving certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// One call of the REST API; `content_type` for a body other than a JSON object.
    pub fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        content_type: &str,
    ) -> Result<Reply> {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request
                .header("Content-Type", content_type)
                .body(serde_json::to_vec(body)?);
        }
        let response = request.send().with_context(|| format!("{method} {path}"))?;
        let status = response.status().as_u16();
        let warnings = response
            .headers()
            .get_all("Warning")
            .iter()
            .filter_map(|h| h.to_str().ok().and_then(warning_text))
            .collect();
        let bytes = response.bytes()?;
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Ok(Reply {
            status,
            body,
            warnings,
        })
    }

    /// GET.
    pub fn get(&self, path: &str) -> Result<Reply> {
        self.call(reqwest::Method::GET, path, None, "")
    }

    /// POST (create).
    pub fn post(&self, path: &str, body: &Value) -> Result<Reply> {
        self.call(reqwest::Method::POST, path, Some(body), "application/json")
    }

    /// PUT (replace).
    pub fn put(&self, path: &str, body: &Value) -> Result<Reply> {
        self.call(reqwest::Method::PUT, path, Some(body), "application/json")
    }

    /// PATCH with a JSON merge patch.
    pub fn merge_patch(&self, path: &str, body: &Value) -> Result<Reply> {
        self.call(
            reqwest::Method::PATCH,
            path,
            Some(body),
            "application/merge-patch+json",
        )
    }

    /// DELETE.
    pub fn delete(&self, path: &str) -> Result<Reply> {
        self.call(reqwest::Method::DELETE, path, None, "")
    }

    /// Creates `object`, or replaces the one of that name.
    pub fn apply(&self, object: &Value) -> Result<Value> {
        let reply = self.post(&object_path(object, false)?, object)?;
        if reply.status != 409 {
            return reply.into_ok();
        }
        let path = object_path(object, true)?;
        let current = self.get(&path)?.into_ok()?;
        let mut object = object.clone();
        object["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"].clone();
        self.put(&path, &object)?.into_ok()
    }

    /// Deletes the object at `path`; one that does not exist is fine.
    pub fn delete_if_exists(&self, path: &str) -> Result<()> {
        let reply = self.delete(path)?;
        if reply.ok() || reply.status == 404 {
            Ok(())
        } else {
            Err(anyhow!(
                "DELETE {path}: {}: {}",
                reply.status,
                reply.message()
            ))
        }
    }

    /// Polls `done` every 20 ms until it returns `Some`; fails after `what` took more than 60 s (a guard
    /// against hanging, not a measurement).
    pub fn poll<T>(&self, what: &str, mut done: impl FnMut() -> Result<Option<T>>) -> Result<T> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(value) = done()? {
                return Ok(value);
            }
            if Instant::now() > deadline {
                bail!("{what}: not done after 60 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the admission chain sees every admission policy, binding and Namespace label written
    /// before this call. The apiserver reads them through informers, each in the order of its events: a
    /// sentinel MutatingAdmissionPolicy, ValidatingAdmissionPolicy (and bindings) and a label on the
    /// `pg-sync` Namespace, written last, are in effect only when everything written before them is.
    pub fn settle(&self) -> Result<()> {
        let n = self.round.fetch_add(1, Ordering::Relaxed).to_string();
        let name = format!("pg-sync-{n}");
        let namespace = json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "pg-sync", "labels": {"pg-sync": n}}});
        self.apply(&namespace)?;
        let rules = json!({
            "resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                               "resources": ["configmaps"]}],
            "objectSelector": {"matchLabels": {"pg-sync": n}},
        });
        let group = "admissionregistration.k8s.io/v1";
        let objects = [
            json!({"apiVersion": group, "kind": "MutatingAdmissionPolicy", "metadata": {"name": name},
                "spec": {"matchConstraints": rules, "failurePolicy": "Fail", "reinvocationPolicy": "Never",
                    "mutations": [{"patchType": "ApplyConfiguration", "applyConfiguration": {
                        "expression": format!("Object{{metadata: Object.metadata{{labels: {{\"pg-synced\": \"{n}\"}}}}}}")}}]}}),
            json!({"apiVersion": group, "kind": "MutatingAdmissionPolicyBinding", "metadata": {"name": name},
                "spec": {"policyName": name}}),
            json!({"apiVersion": group, "kind": "ValidatingAdmissionPolicy", "metadata": {"name": name},
                "spec": {"matchConstraints": rules, "failurePolicy": "Fail", "validations": [{
                    "expression": format!("!(has(object.metadata.labels) && 'pg-synced' in object.metadata.labels \
                        && has(namespaceObject.metadata.labels) && 'pg-sync' in namespaceObject.metadata.labels \
                        && namespaceObject.metadata.labels['pg-sync'] == '{n}')"),
                    "message": format!("settled {n}")}]}}),
            json!({"apiVersion": group, "kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": name},
                "spec": {"policyName": name, "validationActions": ["Deny"]}}),
        ];
        for object in &objects {
            self.apply(object)?;
        }
        let probe = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "probe", "namespace": "pg-sync", "labels": {"pg-sync": n}}});
        let want = format!("settled {n}");
        self.poll("the admission policies to take effect", || {
            let reply = self.post("/api/v1/namespaces/pg-sync/configmaps?dryRun=All", &probe)?;
            Ok((!reply.ok() && reply.message().contains(&want)).then_some(()))
        })?;
        for object in objects.iter().rev() {
            self.delete_if_exists(&object_path(object, true)?)?;
        }
        Ok(())
    }

    /// Makes the cluster hold these Namespaces (with exactly these labels, and a `default` ServiceAccount each,
    /// which Pods need without a controller-manager) and exactly these PriorityClasses besides the system ones;
    /// Namespaces of earlier calls stay (a Namespace cannot be deleted without a controller-manager). Returns
    /// when the Priority plugin sees the classes.
    pub fn load_cluster(&self, namespaces: &[Value], classes: &[Value]) -> Result<()> {
        for namespace in namespaces
            .iter()
            .cloned()
            .chain([json!({"metadata": {"name": "pg-sync"}})])
        {
            let name = namespace["metadata"]["name"]
                .as_str()
                .context("a Namespace without a name")?;
            let mut labels = namespace["metadata"]["labels"].clone();
            if !labels.is_object() {
                labels = json!({});
            }
            labels["kubernetes.io/metadata.name"] = json!(name);
            let path = format!("/api/v1/namespaces/{name}");
            let reply = self.get(&path)?;
            if reply.status == 404 {
                self.post(
                    "/api/v1/namespaces",
                    &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}),
                )?
                .into_ok()?;
            } else {
                let mut current = reply.into_ok()?;
                current["metadata"]["labels"] = labels;
                self.put(&path, &current)?.into_ok()?;
            }
            let reply = self.post(
                &format!("/api/v1/namespaces/{name}/serviceaccounts"),
                &json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}),
            )?;
            if reply.status != 409 {
                reply.into_ok()?;
            }
        }

        let same = |a: &Value, b: &Value| {
            let policy = |c: &Value| {
                c["preemptionPolicy"]
                    .as_str()
                    .unwrap_or("PreemptLowerPriority")
                    .to_owned()
            };
            a["value"] == b["value"]
                && policy(a) == policy(b)
                && a["globalDefault"].as_bool().unwrap_or(false)
                    == b["globalDefault"].as_bool().unwrap_or(false)
                && a["description"].as_str().unwrap_or("")
                    == b["description"].as_str().unwrap_or("")
        };
        let name_of = |c: &Value| c["metadata"]["name"].as_str().unwrap_or("").to_owned();
        let existing = self
            .get("/apis/scheduling.k8s.io/v1/priorityclasses")?
            .into_ok()?;
        let existing: Vec<Value> = existing["items"].as_array().cloned().unwrap_or_default();
        let (mut created, mut deleted) = (Vec::new(), Vec::new());
        for class in &existing {
            let name = name_of(class);
            if name.starts_with("system-") {
                continue;
            }
            if !classes.iter().any(|c| name_of(c) == name && same(c, class)) {
                self.delete_if_exists(&format!(
                    "/apis/scheduling.k8s.io/v1/priorityclasses/{name}"
                ))?;
                deleted.push(name);
            }
        }
        for class in classes {
            let name = name_of(class);
            let kept = existing
                .iter()
                .any(|c| name_of(c) == name && (name.starts_with("system-") || same(c, class)));
            if kept {
                continue;
            }
            let mut class = class.clone();
            class["metadata"] = json!({"name": name});
            self.post("/apis/scheduling.k8s.io/v1/priorityclasses", &class)?
                .into_ok()
                .with_context(|| format!("creating PriorityClass {name}"))?;
            deleted.retain(|d| *d != name);
            created.push(name);
        }
        self.await_classes(&created, &deleted)
    }

    /// Waits until the Priority plugin, which reads PriorityClasses through an informer, sees the `created`
    /// classes and no longer sees the `deleted` ones: a dry-run Pod naming each in the `pg-sync` Namespace.
    pub fn await_classes(&self, created: &[String], deleted: &[String]) -> Result<()> {
        for (name, exists) in created
            .iter()
            .map(|n| (n, true))
            .chain(deleted.iter().map(|n| (n, false)))
        {
            let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe", "namespace": "pg-sync"},
                "spec": {"priorityClassName": name, "containers": [{"name": "c", "image": "example.invalid/c"}]}});
            let missing = format!("no PriorityClass with name {name} was found");
            self.poll(&format!("PriorityClass {name} to be seen"), || {
                let reply = self.post("/api/v1/namespaces/pg-sync/pods?dryRun=All", &pod)?;
                let seen_missing = !reply.ok() && reply.message().contains(&missing);
                Ok((seen_missing != exists).then_some(()))
            })?;
        }
        Ok(())
    }

    /// The cluster's Namespaces and PriorityClasses, as one List (what `kubectl get namespaces,priorityclasses
    /// -o yaml` prints): the cluster state of `priority-guard run` and of the host crate for this cluster.
    pub fn cluster_state(&self) -> Result<Value> {
        let mut items = Vec::new();
        for (path, api_version, kind) in [
            ("/api/v1/namespaces", "v1", "Namespace"),
            (
                "/apis/scheduling.k8s.io/v1/priorityclasses",
                "scheduling.k8s.io/v1",
                "PriorityClass",
            ),
        ] {
            let list = self.get(path)?.into_ok()?;
            for mut item in list["items"].as_array().cloned().unwrap_or_default() {
                item["apiVersion"] = json!(api_version);
                item["kind"] = json!(kind);
                items.push(item);
            }
        }
        Ok(json!({"apiVersion": "v1", "kind": "List", "items": items}))
    }
}
