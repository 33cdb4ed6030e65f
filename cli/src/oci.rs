//! `priority-guard push` and `pull`: an annotated policy as an OCI artifact, laid out the way `kwctl push`
//! lays it out, so that kwctl, policy-server and Artifact Hub read it.
//!
//! The artifact is one layer (`application/vnd.wasm.content.layer.v1+wasm`, the module as it is) and the config
//! blob `{}` (`application/vnd.wasm.config.v1+json`). The manifest carries the policy's metadata annotations
//! whose values are a single line (the README stored as `io.kubewarden.policy.usage` is not one), plus
//! `org.opencontainers.image.source` from `io.kubewarden.policy.source`.
//!
//! Registries at `localhost`, `127.0.0.1` or `[::1]` are spoken to over plain HTTP, every other one over HTTPS
//! (with the system's trusted certificates; OpenSSL reads `SSL_CERT_FILE`). Credentials come from the docker configuration (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`): an `auths` entry (`auth`, or `username` and `password`), or a credential helper
//! (`credHelpers`, `credsStore`). Without an entry the registry is used anonymously.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use base64::Engine;
use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::{OCI_IMAGE_MEDIA_TYPE, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use priority_guard_host::PolicyMetadata;
use serde_json::Value;

use crate::input;

/// The media type of the policy layer.
pub(crate) const WASM_LAYER_MEDIA_TYPE: &str = "application/vnd.wasm.content.layer.v1+wasm";
/// The media type of the config blob.
pub(crate) const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v1+json";
/// The OCI annotation that links an artifact to its source repository.
const SOURCE_ANNOTATION: &str = "org.opencontainers.image.source";
/// The policy annotation it is taken from.
const POLICY_SOURCE_ANNOTATION: &str = "io.kubewarden.policy.source";

/// Arguments of `priority-guard push`.
#[derive(Debug, clap::Args)]
pub(crate) struct PushArgs {
    /// The annotated policy (`priority-guard annotate` writes it).
    #[arg(value_name = "POLICY.wasm")]
    policy: PathBuf,

    /// Where to push: `REGISTRY/REPOSITORY:TAG` (a `registry://` prefix, as in Kubewarden's policy
    /// resources, is accepted).
    #[arg(value_name = "REFERENCE")]
    reference: String,
}

/// Arguments of `priority-guard pull`.
#[derive(Debug, clap::Args)]
pub(crate) struct PullArgs {
    /// What to pull: `REGISTRY/REPOSITORY:TAG` or `REGISTRY/REPOSITORY@sha256:...`.
    #[arg(value_name = "REFERENCE")]
    reference: String,

    /// Where to write the policy.
    #[arg(short = 'o', long = "output-path", value_name = "FILE")]
    output_path: PathBuf,
}

/// Parses a reference, refusing one without an explicit registry (no silent default to Docker Hub).
fn parse_reference(text: &str) -> Result<Reference> {
    let stripped = text.strip_prefix("registry://").unwrap_or(text);
    let reference: Reference = stripped
        .parse()
        .with_context(|| format!("{text:?} is not an OCI reference (REGISTRY/REPOSITORY:TAG)"))?;
    let first = stripped.split('/').next().unwrap_or_default();
    let names_registry = stripped.contains('/')
        && (first.contains('.') || first.contains(':') || first == "localhost");
    if !names_registry {
        bail!(
            "{text:?} names no registry: write it as REGISTRY/REPOSITORY:TAG, e.g. ghcr.io/org/policy:v1"
        );
    }
    Ok(reference)
}

/// Whether the registry is spoken to over plain HTTP: `localhost`, `127.0.0.1` and `[::1]` (with any port), the
/// registries one runs for a test or a demo. Other addresses of the loopback range use HTTPS, like every other
/// registry, so a local registry with TLS can still be reached as `127.0.0.2`.
fn uses_plain_http(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        registry.split(':').next().unwrap_or(registry)
    };
    matches!(host, "localhost" | "127.0.0.1" | "::1")
}

fn client(reference: &Reference) -> Client {
    let registry = reference.resolve_registry().to_owned();
    let protocol = if uses_plain_http(&registry) {
        ClientProtocol::HttpsExcept(vec![registry])
    } else {
        ClientProtocol::Https
    };
    Client::new(ClientConfig {
        protocol,
        ..ClientConfig::default()
    })
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the I/O runtime")
}

/// The manifest annotations of a policy: its single-line metadata annotations, plus the OCI source.
pub(crate) fn manifest_annotations(metadata: &PolicyMetadata) -> BTreeMap<String, String> {
    let mut annotations = BTreeMap::new();
    if let Some(Value::Object(map)) = &metadata.annotations {
        for (key, value) in map {
            if let Value::String(text) = value
                && !text.contains('\n')
            {
                annotations.insert(key.clone(), text.clone());
            }
        }
    }
    if let Some(source) = annotations.get(POLICY_SOURCE_ANNOTATION).cloned() {
        annotations.insert(SOURCE_ANNOTATION.to_owned(), source);
    }
    annotations
}

/// Reads an annotated policy and its metadata, refusing a module that `annotate` has not written.
fn read_annotated(path: &Path) -> Result<(Vec<u8>, PolicyMetadata)> {
    let wasm = input::read_bytes(path, "policy")?;
    let metadata = PolicyMetadata::from_wasm(&wasm)
        .with_context(|| format!("cannot read the metadata of the policy {}", path.display()))?
        .with_context(|| {
            format!(
                "the policy {} is not annotated: it has no io.kubewarden.metadata section. Run \
                 `priority-guard annotate -m metadata.yml -o annotated-policy.wasm {}` and push that",
                path.display(),
                path.display()
            )
        })?;
    metadata
        .check_protocol_version()
        .with_context(|| format!("the policy {} cannot be pushed", path.display()))?;
    Ok((wasm, metadata))
}

/// Runs `push`.
pub(crate) fn push(args: &PushArgs) -> Result<()> {
    let reference = parse_reference(&args.reference)?;
    let (wasm, metadata) = read_annotated(&args.policy)?;
    let layer = ImageLayer::new(wasm, WASM_LAYER_MEDIA_TYPE.to_owned(), None);
    let config = Config::new(b"{}".to_vec(), WASM_CONFIG_MEDIA_TYPE.to_owned(), None);
    let layers = [layer];
    let mut manifest =
        OciImageManifest::build(&layers, &config, Some(manifest_annotations(&metadata)));
    // The image spec says the manifest SHOULD name its own media type; the client leaves it out.
    manifest.media_type = Some(OCI_IMAGE_MEDIA_TYPE.to_owned());
    let auth = credentials(reference.resolve_registry())?;
    let client = client(&reference);
    let digest = runtime()?
        .block_on(async {
            client
                .push(&reference, &layers, config, &auth, Some(manifest))
                .await?;
            client.fetch_manifest_digest(&reference, &auth).await
        })
        .with_context(|| format!("cannot push to {reference}"))?;
    println!("pushed {reference}@{digest}");
    Ok(())
}

/// Runs `pull`.
pub(crate) fn pull(args: &PullArgs) -> Result<()> {
    let reference = parse_reference(&args.reference)?;
    let auth = credentials(reference.resolve_registry())?;
    let client = client(&reference);
    let image = runtime()?
        .block_on(client.pull(&reference, &auth, vec![WASM_LAYER_MEDIA_TYPE]))
        .with_context(|| format!("cannot pull {reference}"))?;
    let [layer] = image.layers.as_slice() else {
        bail!(
            "{reference} is not a policy: it has {} layers, a policy has one",
            image.layers.len()
        );
    };
    if image.config.media_type != WASM_CONFIG_MEDIA_TYPE {
        bail!(
            "{reference} is not a policy: its config is {:?}, not {WASM_CONFIG_MEDIA_TYPE:?}",
            image.config.media_type
        );
    }
    std::fs::write(&args.output_path, &layer.data)
        .with_context(|| format!("cannot write {}", args.output_path.display()))?;
    println!(
        "pulled {}/{}@{} to {}",
        reference.registry(),
        reference.repository(),
        image.digest.as_deref().unwrap_or("(no digest)"),
        args.output_path.display()
    );
    Ok(())
}

/// The docker configuration file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker").join("config.json"))
}

/// The credentials for `registry`, from the docker configuration; anonymous without an entry.
fn credentials(registry: &str) -> Result<RegistryAuth> {
    let Some(path) = docker_config_path() else {
        return Ok(RegistryAuth::Anonymous);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(RegistryAuth::Anonymous);
        }
        Err(error) => return Err(error).context(format!("cannot read {}", path.display())),
    };
    let config: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a docker configuration (JSON)", path.display()))?;
    docker_credentials(&config, registry)
        .with_context(|| format!("cannot use the credentials in {}", path.display()))
}

/// The keys under which docker configurations store a registry.
fn config_keys(registry: &str) -> Vec<String> {
    let mut keys = vec![
        registry.to_owned(),
        format!("https://{registry}"),
        format!("http://{registry}"),
        format!("https://{registry}/v1/"),
        format!("https://{registry}/v2/"),
    ];
    if registry == "docker.io" || registry == "index.docker.io" {
        keys.push("https://index.docker.io/v1/".to_owned());
    }
    keys
}

/// Looks `registry` up in a parsed docker configuration.
fn docker_credentials(config: &Value, registry: &str) -> Result<RegistryAuth> {
    let keys = config_keys(registry);
    let find = |section: &str| {
        keys.iter()
            .find_map(|key| config.get(section).and_then(|s| s.get(key)))
    };
    if let Some(helper) = find("credHelpers").and_then(Value::as_str) {
        return helper_credentials(helper, registry);
    }
    if let Some(entry) = find("auths") {
        if let Some(auth) = entry.get("auth").and_then(Value::as_str)
            && !auth.is_empty()
        {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .context("the `auth` of the registry is not base64")?;
            let decoded = String::from_utf8(decoded)
                .context("the `auth` of the registry is not UTF-8 text")?;
            let Some((user, password)) = decoded.split_once(':') else {
                bail!("the `auth` of the registry is not `user:password` in base64");
            };
            return Ok(RegistryAuth::Basic(user.to_owned(), password.to_owned()));
        }
        if let (Some(user), Some(password)) = (
            entry.get("username").and_then(Value::as_str),
            entry.get("password").and_then(Value::as_str),
        ) {
            return Ok(RegistryAuth::Basic(user.to_owned(), password.to_owned()));
        }
    }
    if let Some(store) = config.get("credsStore").and_then(Value::as_str) {
        return helper_credentials(store, registry);
    }
    Ok(RegistryAuth::Anonymous)
}

/// Asks `docker-credential-<helper> get` for the credentials of `registry`.
fn helper_credentials(helper: &str, registry: &str) -> Result<RegistryAuth> {
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run the credential helper {program}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write as _;
        stdin
            .write_all(registry.as_bytes())
            .with_context(|| format!("cannot talk to {program}"))?;
    }
    let output = child
        .wait_with_output()
        .with_context(|| format!("cannot run {program}"))?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stdout);
        // "credentials not found in native keychain": no entry, use the registry anonymously.
        if said.contains("not found") {
            return Ok(RegistryAuth::Anonymous);
        }
        bail!(
            "{program} get failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let answer: Value = serde_json::from_slice(&output.stdout)
        .with_context(|| format!("{program} did not answer with JSON"))?;
    match (
        answer.get("Username").and_then(Value::as_str),
        answer.get("Secret").and_then(Value::as_str),
    ) {
        (Some(user), Some(secret)) => Ok(RegistryAuth::Basic(user.to_owned(), secret.to_owned())),
        _ => bail!("{program} answered without Username and Secret"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_need_a_registry() {
        assert!(parse_reference("localhost:5000/policies/pg:v1").is_ok());
        assert!(parse_reference("registry://ghcr.io/org/pg:v0.1.0").is_ok());
        for bad in ["pg:v1", "org/pg:v1", "", "ghcr.io/Org/PG:v1"] {
            assert!(parse_reference(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_local_registries_use_plain_http() {
        for yes in [
            "localhost:5000",
            "127.0.0.1:5000",
            "[::1]:5000",
            "localhost",
        ] {
            assert!(uses_plain_http(yes), "{yes}");
        }
        for no in [
            "ghcr.io",
            "registry.example:5000",
            "10.0.0.1:5000",
            "127.0.0.2:5000",
            "localhost.example",
        ] {
            assert!(!uses_plain_http(no), "{no}");
        }
    }

    #[test]
    fn manifest_annotations_keep_single_lines_and_add_the_source() {
        let metadata = PolicyMetadata::from_json(
            json!({"annotations": {
                "io.kubewarden.policy.title": "pg",
                "io.kubewarden.policy.source": "https://example.com/pg",
                "io.kubewarden.policy.usage": "# README\n\ntext\n",
            }})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        let annotations = manifest_annotations(&metadata);
        assert_eq!(
            annotations,
            BTreeMap::from([
                (
                    "io.kubewarden.policy.source".into(),
                    "https://example.com/pg".into()
                ),
                ("io.kubewarden.policy.title".into(), "pg".into()),
                (SOURCE_ANNOTATION.into(), "https://example.com/pg".into()),
            ])
        );
    }

    #[test]
    fn docker_config_entries_are_found_by_registry() {
        let auth = base64::engine::general_purpose::STANDARD.encode("me:secret");
        let config = json!({"auths": {
            "https://ghcr.io": {"auth": auth},
            "registry.example:5000": {"username": "u", "password": "p"},
            "broken.example": {"auth": "not base64!"},
        }});
        let basic = |u: &str, p: &str| RegistryAuth::Basic(u.into(), p.into());
        let got = |registry: &str| docker_credentials(&config, registry);
        assert!(matches!(got("ghcr.io").unwrap(), a if a == basic("me", "secret")));
        assert!(matches!(got("registry.example:5000").unwrap(), a if a == basic("u", "p")));
        assert!(matches!(got("quay.io").unwrap(), RegistryAuth::Anonymous));
        assert!(got("broken.example").is_err());
    }
}
