//! A test-only admission webhook server: HTTPS on a free loopback port, HTTP/1.1 with keep-alive, one thread per
//! connection. Each POST body is an `admission.k8s.io/v1` AdmissionReview; the handler gets the request path and
//! the AdmissionReview's `request`, and returns the AdmissionResponse, which goes back wrapped in an
//! AdmissionReview. It is the part of Kubewarden's policy-server that the apiserver talks to, and nothing more:
//! the tests put policy.wasm under the host crate behind it.
//!
//! The server certificate is the test control plane's (`apiserver.crt`, for 127.0.0.1, signed by its CA), so a
//! webhook configuration trusts it with the CA as its `caBundle`. Without ALPN the apiserver speaks HTTP/1.1.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

/// What answers an admission request: the request path (`/policy`, ...) and the AdmissionRequest in, the
/// AdmissionResponse out (its `uid` is set from the request when the handler leaves it out).
pub type Handler = dyn Fn(&str, &Value) -> Value + Send + Sync;

/// The largest request body read; the apiserver's requests are far smaller.
const MAX_BODY_BYTES: usize = 16 << 20;

/// A running webhook server; stopped when dropped.
pub struct WebhookServer {
    port: u16,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for WebhookServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookServer")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl WebhookServer {
    /// Serves `handler` over HTTPS with the PEM certificate and PKCS#8 key in `cert` and `key`.
    ///
    /// # Errors
    /// When the files cannot be read or are not a certificate and key, or no port can be bound.
    pub fn start(cert: &Path, key: &Path, handler: Arc<Handler>) -> Result<Self> {
        let read = |path: &Path| {
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
        };
        let identity = native_tls::Identity::from_pkcs8(&read(cert)?, &read(key)?)
            .context("the webhook's certificate and key")?;
        let acceptor = Arc::new(native_tls::TlsAcceptor::new(identity)?);
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let accept = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (acceptor, handler) = (Arc::clone(&acceptor), Arc::clone(&handler));
                std::thread::spawn(move || {
                    if let Ok(tls) = acceptor.accept(stream) {
                        // A connection that breaks off ends its thread; the apiserver opens another.
                        let _ = serve(tls, handler.as_ref());
                    }
                });
            }
        });
        Ok(Self {
            port,
            stop,
            accept: Some(accept),
        })
    }

    /// The URL of `path` on this server, for a webhook's `clientConfig.url`.
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for WebhookServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop, which then sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// Answers the requests of one connection until the client closes it.
fn serve(stream: native_tls::TlsStream<TcpStream>, handler: &Handler) -> Result<()> {
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut target = request_line.split_whitespace().skip(1);
        let path = target.next().unwrap_or("/").to_owned();
        let mut length = 0;
        let mut close = false;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 {
                return Ok(());
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            let Some((name, value)) = header.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse().context("Content-Length")?,
                "connection" => close = value.eq_ignore_ascii_case("close"),
                "transfer-encoding" => {
                    bail!("a chunked request body, which this server does not read")
                }
                _ => {}
            }
        }
        if length > MAX_BODY_BYTES {
            bail!("a request body of {length} bytes");
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let (status, answer) = match serde_json::from_slice::<Value>(&body) {
            Ok(review) => {
                let request = &review["request"];
                let mut response = handler(&path, request);
                if response.get("uid").is_none() {
                    response["uid"] = request["uid"].clone();
                }
                let api_version = review["apiVersion"]
                    .as_str()
                    .unwrap_or("admission.k8s.io/v1");
                (
                    "200 OK",
                    json!({"apiVersion": api_version, "kind": "AdmissionReview", "response": response}),
                )
            }
            Err(e) => ("400 Bad Request", json!({"error": e.to_string()})),
        };
        let answer = answer.to_string();
        let stream = reader.get_mut();
        write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        )?;
        stream.flush()?;
        if close {
            return Ok(());
        }
    }
}
