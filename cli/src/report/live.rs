//! Reading a live cluster (feature `cluster`): the kinds of the dump listed through a kubeconfig with kube-rs,
//! read-only (GET of lists only), 500 objects a page, with progress on standard error once it takes more than a
//! second. Each page is kept as the API's JSON text (a typed list such as `PodList`), which the dump reader reads
//! as it reads `kubectl` output.
//!
//! A cluster that cannot be reached (or a kubeconfig that cannot be used) is an error: no report. A kind the
//! cluster forbids listing or does not serve is skipped, and said.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::Request;
use kube::core::params::ListParams;
use kube::{Client, Config};
use priority_guard_sdk::Settings;
use serde::Deserialize;

/// What was read from the cluster.
pub(crate) struct Read {
    /// The lists' pages, one JSON document each.
    pub text: String,
    /// The kubeconfig context used.
    pub context: String,
    /// The kinds that could not be listed, and why.
    pub skipped: Vec<String>,
}

/// Objects per page.
const PAGE: u32 = 500;

/// After this long, each page read is said on standard error.
const QUIET: Duration = Duration::from_secs(1);

/// The collections to list: (what, REST path). Namespaces first: a cluster that cannot be reached fails there.
fn collections(settings: &Settings) -> Vec<(String, String)> {
    let mut paths: Vec<(String, String)> = [
        ("namespaces", "/api/v1/namespaces"),
        (
            "priorityclasses",
            "/apis/scheduling.k8s.io/v1/priorityclasses",
        ),
        ("pods", "/api/v1/pods"),
        ("replicationcontrollers", "/api/v1/replicationcontrollers"),
        ("deployments", "/apis/apps/v1/deployments"),
        ("replicasets", "/apis/apps/v1/replicasets"),
        ("statefulsets", "/apis/apps/v1/statefulsets"),
        ("daemonsets", "/apis/apps/v1/daemonsets"),
        ("jobs", "/apis/batch/v1/jobs"),
        ("cronjobs", "/apis/batch/v1/cronjobs"),
    ]
    .into_iter()
    .map(|(what, path)| (what.to_owned(), path.to_owned()))
    .collect();
    for custom in &settings.custom_workloads {
        paths.push((
            format!("{}.{}", custom.resource, custom.group),
            format!(
                "/apis/{}/{}/{}",
                custom.group, custom.version, custom.resource
            ),
        ));
    }
    paths
}

#[derive(Deserialize)]
struct ListMeta {
    #[serde(rename = "continue", default)]
    continue_token: Option<String>,
}

#[derive(Deserialize)]
struct ListHead {
    #[serde(default)]
    metadata: Option<ListMeta>,
    #[serde(default)]
    items: Vec<serde::de::IgnoredAny>,
}

/// Reads the cluster of `kubeconfig` (empty: `KUBECONFIG`, else `~/.kube/config`) in `context` (default: its
/// current context).
pub(crate) fn read(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
    settings: &Settings,
) -> Result<Read> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the client's runtime")?;
    runtime.block_on(read_async(kubeconfig, context, settings))
}

async fn read_async(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
    settings: &Settings,
) -> Result<Read> {
    let file = match kubeconfig.filter(|p| !p.as_os_str().is_empty()) {
        Some(path) => Kubeconfig::read_from(path)
            .with_context(|| format!("cannot read the kubeconfig {}", path.display()))?,
        None => Kubeconfig::read()
            .context("cannot read the kubeconfig (KUBECONFIG or ~/.kube/config)")?,
    };
    let context_name = context
        .map(str::to_owned)
        .or_else(|| file.current_context.clone())
        .unwrap_or_default();
    let options = KubeConfigOptions {
        context: context.map(str::to_owned),
        ..KubeConfigOptions::default()
    };
    let config = Config::from_custom_kubeconfig(file, &options)
        .await
        .with_context(|| format!("cannot use the kubeconfig's context \"{context_name}\""))?;
    let url = config.cluster_url.to_string();
    let client = Client::try_from(config).context("cannot make a client of the kubeconfig")?;

    let started = Instant::now();
    let mut read = Read {
        text: String::new(),
        context: context_name,
        skipped: Vec::new(),
    };
    for (index, (what, path)) in collections(settings).into_iter().enumerate() {
        let mut token: Option<String> = None;
        let mut count = 0usize;
        loop {
            let mut params = ListParams::default().limit(PAGE);
            if let Some(token) = &token {
                params = params.continue_token(token);
            }
            let request = Request::new(path.as_str())
                .list(&params)
                .with_context(|| format!("cannot write the request for {what}"))?;
            let page = match client.request_text(request).await {
                Ok(page) => page,
                Err(kube::Error::Api(status)) => {
                    let why = match status.code {
                        403 => "the cluster forbids listing them",
                        404 => "the cluster does not serve them",
                        _ => "the cluster refused the list",
                    };
                    read.skipped.push(format!(
                        "{what}: {why} ({} {}: {})",
                        status.code, status.reason, status.message
                    ));
                    break;
                }
                // Nothing read yet: the cluster cannot be reached, and there is no report.
                Err(error) if index == 0 && count == 0 => {
                    return Err(error)
                        .with_context(|| format!("cannot reach the cluster at {url}"));
                }
                Err(error) => {
                    read.skipped
                        .push(format!("{what}: the list failed after {count} ({error})"));
                    break;
                }
            };
            let head: ListHead = serde_json::from_str(&page)
                .with_context(|| format!("the cluster's list of {what} is not a list"))?;
            count += head.items.len();
            read.text.push_str(&page);
            read.text.push('\n');
            if started.elapsed() > QUIET {
                eprintln!("reading the cluster: {count} {what}");
            }
            token = head
                .metadata
                .and_then(|m| m.continue_token)
                .filter(|t| !t.is_empty());
            if token.is_none() {
                break;
            }
        }
    }
    Ok(read)
}
