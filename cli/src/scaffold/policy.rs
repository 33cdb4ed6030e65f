//! `priority-guard scaffold policy`: the ClusterAdmissionPolicy that deploys priority-guard with the settings.
//!
//! `metadata.yml` lists the rules of the built-in kinds only: it cannot know the CRDs of a cluster. The
//! ClusterAdmissionPolicy is where the custom workload kinds of the settings (`customWorkloads`) get their rules,
//! so this command writes them from the settings, next to the built-in ones, with `mutating` and
//! `contextAwareResources` set to what the settings need.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use priority_guard_sdk::Settings;
use priority_guard_sdk::model::kinds::KINDS;
use priority_guard_sdk::model::settings::SettingsDoc;
use serde::Serialize;

use crate::input;

/// Where the policy is published (`io.kubewarden.policy.ociUrl` of metadata.yml).
const OCI_URL: &str = "ghcr.io/priority-guard/policies/priority-guard";

/// Arguments of `priority-guard scaffold policy`.
#[derive(Debug, clap::Args)]
pub(crate) struct PolicyArgs {
    /// The policy settings, a YAML or JSON file (validated first).
    #[arg(short = 's', long, value_name = "FILE")]
    settings: PathBuf,

    /// The name of the ClusterAdmissionPolicy.
    #[arg(long, value_name = "NAME", default_value = "priority-guard")]
    name: String,

    /// The policy module (default: this release on the registry).
    #[arg(long, value_name = "URL")]
    module: Option<String>,

    /// Kubewarden's mode for the whole policy: `protect` enforces it; `monitor` accepts every request and only
    /// logs what the policy would have refused (and drops its mutations), for a first dry run. A rule's own
    /// `action` (Warn, Audit) rolls out a single rule instead.
    #[arg(long, value_enum, default_value_t = Mode::Protect)]
    mode: Mode,
}

/// `spec.mode` of a Kubewarden policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Mode {
    /// Enforce: Kubewarden's default, not written.
    Protect,
    /// Accept everything, logging what would have been refused.
    Monitor,
}

/// A Kubewarden ClusterAdmissionPolicy.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ClusterAdmissionPolicy {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata,
    spec: Spec,
}

#[derive(Debug, Serialize)]
struct Metadata {
    name: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    module: String,
    /// `monitor`, or absent for Kubewarden's default `protect`.
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<&'static str>,
    /// Whether the policy may answer with a patch: when some rule has a default.
    mutating: bool,
    /// The Namespace lookup, when a rule matches namespaces by labels; empty otherwise.
    context_aware_resources: Vec<ContextAwareResource>,
    rules: Vec<Rule>,
    settings: SettingsDoc,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ContextAwareResource {
    api_version: &'static str,
    kind: &'static str,
}

/// An admission rule as Kubewarden policies write them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Rule {
    pub(crate) api_groups: Vec<String>,
    pub(crate) api_versions: Vec<String>,
    pub(crate) resources: Vec<String>,
    pub(crate) operations: Vec<String>,
}

/// The rules: the built-in kinds (as metadata.yml lists them, one per group and operations), then one per
/// custom kind's group and version.
pub(crate) fn rules(settings: &Settings) -> Vec<Rule> {
    let mut rules: Vec<Rule> = Vec::new();
    let kinds = KINDS.iter().map(|k| {
        (
            k.group.to_owned(),
            k.version.to_owned(),
            k.resource.to_owned(),
            k.operations(),
        )
    });
    let custom = settings.custom_workloads.iter().map(|c| {
        (
            c.group.clone(),
            c.version.clone(),
            c.resource.clone(),
            &["CREATE", "UPDATE"][..],
        )
    });
    // PriorityClass objects only when the settings have rules for them (metadata.yml lists them for the policy
    // as a whole).
    let priority_classes = settings.priority_classes.as_ref().map(|_| {
        (
            priority_guard_sdk::model::priority_class::GROUP.to_owned(),
            "v1".to_owned(),
            priority_guard_sdk::model::priority_class::RESOURCE.to_owned(),
            priority_guard_sdk::model::priority_class::OPERATIONS,
        )
    });
    for (group, version, resource, operations) in kinds.chain(custom).chain(priority_classes) {
        let operations: Vec<String> = operations.iter().map(|o| (*o).to_owned()).collect();
        match rules.iter_mut().find(|r| {
            r.api_groups == [group.clone()]
                && r.api_versions == [version.clone()]
                && r.operations == operations
        }) {
            Some(rule) => rule.resources.push(resource),
            None => rules.push(Rule {
                api_groups: vec![group],
                api_versions: vec![version],
                resources: vec![resource],
                operations,
            }),
        }
    }
    rules
}

/// The ClusterAdmissionPolicy for settings (`value` as read, `settings` validated from it).
pub(crate) fn cluster_admission_policy(
    value: serde_json::Value,
    settings: &Settings,
    name: &str,
    module: &str,
    mode: Mode,
) -> Result<ClusterAdmissionPolicy> {
    let doc: SettingsDoc =
        serde_json::from_value(value).context("cannot read the validated settings again")?;
    let mutating = settings
        .policies()
        .any(|(_, p)| p.default_priority_class.is_some());
    let mut context_aware_resources = Vec::new();
    if settings.uses_namespace_labels() {
        context_aware_resources.push(ContextAwareResource {
            api_version: "v1",
            kind: "Namespace",
        });
    }
    // `maxPriority` and `allowedPreemptionPolicies` look up the classes that workloads name.
    if settings.policies().any(|(_, p)| p.checks_class_values()) {
        context_aware_resources.push(ContextAwareResource {
            api_version: priority_guard_sdk::model::priority_class::API_VERSION,
            kind: priority_guard_sdk::model::priority_class::KIND,
        });
    }
    Ok(ClusterAdmissionPolicy {
        api_version: "policies.kubewarden.io/v1",
        kind: "ClusterAdmissionPolicy",
        metadata: Metadata {
            name: name.to_owned(),
        },
        spec: Spec {
            module: module.to_owned(),
            mode: (mode == Mode::Monitor).then_some("monitor"),
            mutating,
            context_aware_resources,
            rules: rules(settings),
            settings: doc,
        },
    })
}

pub(crate) fn policy(args: &PolicyArgs) -> Result<()> {
    priority_guard_sdk::model::names::dns_subdomain(&args.name)
        .map_err(|e| anyhow!("--name: {e}"))?;
    let value = input::read_json_or_yaml(&args.settings, "settings file")?;
    let value = if value.is_null() {
        serde_json::json!({})
    } else {
        value
    };
    let settings = Settings::from_value(value.clone())
        .with_context(|| format!("invalid settings in {}", args.settings.display()))?;
    let module = args
        .module
        .clone()
        .unwrap_or_else(|| format!("registry://{OCI_URL}:v{}", env!("CARGO_PKG_VERSION")));
    let policy = cluster_admission_policy(value, &settings, &args.name, &module, args.mode)?;
    let yaml = serde_yaml_ng::to_string(&policy).context("cannot write the YAML")?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "# Generated by priority-guard {} from {}: regenerate with `priority-guard scaffold policy` rather than edit.",
        env!("CARGO_PKG_VERSION"),
        args.settings.display()
    )?;
    out.write_all(yaml.as_bytes())?;
    out.flush()?;
    Ok(())
}
