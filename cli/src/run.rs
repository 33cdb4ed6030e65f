//! `priority-guard run`: evaluates one admission request with a policy and prints the
//! AdmissionResponse, like `kwctl run`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use priority_guard_host::{
    AdmissionResponse, ClusterState, HostOptions, PolicyMetadata, PolicyModule,
    admission_request_from_json,
};
use serde_json::{Value, json};

use crate::input;

/// Arguments of `priority-guard run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// The AdmissionReview or bare AdmissionRequest to evaluate (JSON or YAML).
    #[arg(short = 'r', long, value_name = "FILE")]
    request_path: PathBuf,

    /// The policy settings, a YAML or JSON file (default: `{}`).
    #[arg(
        short = 's',
        long,
        value_name = "FILE",
        conflicts_with = "settings_json"
    )]
    settings_path: Option<PathBuf>,

    /// The policy settings as a JSON string (default: `{}`).
    #[arg(long, value_name = "JSON")]
    settings_json: Option<String>,

    /// Kubernetes objects that answer the policy's lookups: YAML or JSON, one object, a List or
    /// several documents (e.g. the output of `kubectl get namespaces,priorityclasses -o yaml`).
    /// Without it, lookups fail as if no cluster were reachable.
    #[arg(long, value_name = "FILE")]
    cluster_state: Option<PathBuf>,

    /// Grant the policy read access to the resource types listed in the contextAwareResources
    /// of its metadata. Without it, no access is granted (as with `kwctl run`).
    #[arg(long, visible_alias = "allow-context-aware")]
    allow_context_aware_resources: bool,

    /// Take contextAwareResources and mutating from this metadata file (metadata.yml) instead
    /// of the module's io.kubewarden.metadata section.
    #[arg(long, value_name = "FILE")]
    metadata: Option<PathBuf>,

    /// The policy: a Kubewarden waPC module, annotated or not.
    #[arg(value_name = "POLICY.wasm")]
    policy: PathBuf,
}

fn read_settings(args: &RunArgs) -> Result<Value> {
    let settings = if let Some(text) = &args.settings_json {
        serde_json::from_str(text).context("the --settings-json value is not valid JSON")?
    } else if let Some(path) = &args.settings_path {
        input::read_json_or_yaml(path, "settings file")?
    } else {
        Value::Null
    };
    Ok(if settings.is_null() {
        json!({})
    } else {
        settings
    })
}

fn read_metadata_file(path: &Path) -> Result<PolicyMetadata> {
    let text = input::read_text(path, "metadata file")?;
    PolicyMetadata::from_yaml(&text)
        .with_context(|| format!("cannot parse the metadata file {}", path.display()))
}

fn describe(resources: &BTreeSet<(String, String)>) -> String {
    resources
        .iter()
        .map(|(api_version, kind)| format!("{api_version}/{kind}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs the command.
pub(crate) fn run(args: &RunArgs) -> Result<()> {
    // Read every input before compiling, so that a wrong path fails fast.
    let wasm = input::read_bytes(&args.policy, "policy")?;
    let request = input::read_json_or_yaml(&args.request_path, "request file")?;
    let request = admission_request_from_json(request).with_context(|| {
        format!(
            "cannot use the request file {}",
            args.request_path.display()
        )
    })?;
    let settings = read_settings(args)?;
    let cluster = match &args.cluster_state {
        Some(path) => ClusterState::from_file(path).context("cannot load the cluster state")?,
        None => ClusterState::disconnected(),
    };
    let metadata = match &args.metadata {
        Some(path) => Some(read_metadata_file(path)?),
        None => PolicyMetadata::from_wasm(&wasm)
            .with_context(|| format!("cannot load the policy {}", args.policy.display()))?,
    };

    let listed = metadata
        .as_ref()
        .map(PolicyMetadata::allowed_resources)
        .unwrap_or_default();
    let allowed_resources = if args.allow_context_aware_resources {
        if !listed.is_empty() && args.cluster_state.is_none() {
            eprintln!(
                "warning: no --cluster-state given: the policy's lookups of {} will fail",
                describe(&listed)
            );
        }
        listed
    } else {
        if !listed.is_empty() {
            eprintln!(
                "warning: the policy reads Kubernetes resources ({}) at evaluation time; access \
                 is denied in this run, pass --allow-context-aware-resources to grant it",
                describe(&listed)
            );
        }
        BTreeSet::new()
    };
    let options = HostOptions {
        allowed_resources: Some(allowed_resources),
        // Without any metadata the host allows mutations, like a module nothing restricts.
        allow_mutations: metadata.as_ref().map(|m| m.mutating),
        ..HostOptions::default()
    };

    let module = PolicyModule::from_bytes(&wasm, options)
        .with_context(|| format!("cannot load the policy {}", args.policy.display()))?;
    let policy = module.instance(Arc::new(cluster))?;

    let verdict = policy.validate_settings(&settings)?;
    if !verdict.valid {
        bail!(
            "Provided settings are not valid: {}",
            verdict.message.unwrap_or_default()
        );
    }
    let answer = policy.validate_fail_closed(&request, &settings)?;
    let policy_id = args.policy.file_name().map_or_else(
        || "policy".to_owned(),
        |name| name.to_string_lossy().into_owned(),
    );
    let response =
        AdmissionResponse::for_request(&request, &answer, module.allow_mutations(), &policy_id)?;
    println!("{}", serde_json::to_string(&response)?);
    Ok(())
}
