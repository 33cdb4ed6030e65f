//! `priority-guard report`: what the rules would do to a running cluster, and who can preempt whom.
//!
//! The input is a dump of the cluster ([`dump`]) or, with the `cluster` feature, the cluster itself ([`live`]).
//! Objects owned by another object of the input are grouped under their top owner ([`owners`]). The audit
//! ([`audit`]) decides every top owner as a CREATE with the sdk's decision ([`decision`], the only caller of it
//! here), and the running Pods; the exposure ([`exposure`]) reads the Pods' priorities, preemption policies and
//! requests ([`resources`]). One file per output format.
//!
//! Exit status (docs/report.md): 0 when the report is written and nothing would be refused (with `--baseline`,
//! nothing changes); 1 when something would be refused (with `--baseline`, some decision changes); 2 when no
//! report could be written (unusable settings, an unreadable input, an unreachable cluster); 3 when the report
//! is written but part of the input was skipped, which its top says (3 wins over 1).

mod audit;
mod bench;
mod decision;
mod dump;
mod exposure;
mod html;
mod json;
#[cfg(feature = "cluster")]
mod live;
mod markdown;
mod owners;
mod policyreport;
mod resources;
mod tables;
mod text;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use priority_guard_sdk::Settings;
use priority_guard_sdk::model::priority_class;
use serde::Serialize;

use crate::input;
use crate::labels::NamespaceLabels;
use audit::Audit;
use decision::Decider;
use dump::Dump;
use exposure::Exposure;
use owners::Ownership;

/// How the report is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Aligned tables for a terminal.
    Text,
    /// One JSON document with a `version` (docs/report.md has its fields).
    Json,
    /// Markdown, for a pull request or an issue.
    Markdown,
    /// One self-contained HTML page, the preemption matrix as a heat map.
    Html,
    /// `wgpolicyk8s.io/v1alpha2` PolicyReports (one per namespace) and a ClusterPolicyReport, as YAML.
    Policyreport,
}

/// Arguments of `priority-guard report`.
#[derive(Debug, clap::Args)]
pub(crate) struct ReportArgs {
    /// The policy settings, a YAML or JSON file (the same as the policy's).
    #[arg(short = 's', long, value_name = "FILE")]
    settings: PathBuf,

    /// A dump of the cluster: `kubectl get namespaces,priorityclasses,pods,deployments,replicasets,statefulsets,
    /// daemonsets,jobs,cronjobs,replicationcontrollers -A -o json` (and the settings' custom kinds); JSON or
    /// YAML, a List or several documents.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present_any = ["kubeconfig", "bench_dump"],
        conflicts_with = "kubeconfig"
    )]
    cluster_state: Option<PathBuf>,

    /// Read the cluster itself (read-only) through a kubeconfig: the given file, else `KUBECONFIG`, else
    /// `~/.kube/config` (feature `cluster`).
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "")]
    kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use (default: its current context).
    #[arg(long, value_name = "NAME", requires = "kubeconfig")]
    context: Option<String>,

    /// Other settings to compare with: only what changes from these to `--settings` is audited.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,

    /// Output format.
    #[arg(short = 'f', long, value_enum, default_value_t = Format::Text)]
    format: Format,

    /// Write the report to this file instead of standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Write a generated dump of N Pods (N/10 workloads, N/200 namespaces) instead of a report, for
    /// `make bench-report`.
    #[arg(long, value_name = "N", hide = true, conflicts_with_all = ["cluster_state", "kubeconfig"])]
    bench_dump: Option<usize>,
}

/// Exit statuses.
mod status {
    pub(super) const REFUSED: u8 = 1;
    pub(super) const UNUSABLE: u8 = 2;
    pub(super) const INCOMPLETE: u8 = 3;
}

/// The whole report; the `json` format writes it as it is, so its field names are the stable schema.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Report {
    /// The schema's version.
    pub version: u32,
    /// The settings file, as given.
    pub settings: String,
    /// The baseline settings file, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// What was read: `dump <file>` or `cluster <context>`.
    pub source: String,
    /// What could not be read or used, one sentence each.
    pub skipped: Vec<String>,
    /// Objects read, per kind.
    pub objects: BTreeMap<String, usize>,
    pub audit: Audit,
    pub exposure: Exposure,
}

/// Runs the command; every error is printed here, so the caller only exits with the status.
pub(crate) fn report(args: &ReportArgs) -> ExitCode {
    match run(args) {
        Ok(code) => ExitCode::from(code),
        // The reader of standard output stopped reading (`| head`): nothing more to say.
        Err(error)
            if error.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(status::UNUSABLE)
        }
    }
}

fn load_settings(path: &Path) -> Result<Settings> {
    let value = input::read_json_or_yaml(path, "settings file")?;
    Settings::from_value(value).with_context(|| format!("invalid settings in {}", path.display()))
}

/// The name a file is reported under: as given, with `/` separators.
fn display_name(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

fn run(args: &ReportArgs) -> Result<u8> {
    let settings = load_settings(&args.settings)?;
    if let Some(pods) = args.bench_dump {
        let mut out: Box<dyn Write> = match &args.output {
            Some(path) => Box::new(std::io::BufWriter::new(
                std::fs::File::create(path)
                    .with_context(|| format!("cannot write {}", path.display()))?,
            )),
            None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
        };
        bench::generate(&mut out, pods)?;
        out.flush()?;
        return Ok(0);
    }
    let baseline = args.baseline.as_deref().map(load_settings).transpose()?;
    let (text, source, mut skipped) = read_source(args, &settings)?;
    let report = build(
        &settings,
        baseline.as_ref(),
        &text,
        source,
        &mut skipped,
        display_name(&args.settings),
        args.baseline.as_deref().map(display_name),
    );
    // Written as it is made: the report of a large cluster is not held twice in memory.
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot write the report to {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    // Colour only on a terminal, never in a file.
    let colour = args.output.is_none() && text::colour_wanted();
    write(&mut out, args.format, &report, colour)?;
    out.flush()?;
    drop(out);
    for line in &report.skipped {
        eprintln!("skipped: {line}");
    }
    Ok(exit_status(&report))
}

/// The status of a written report (see the module documentation).
fn exit_status(report: &Report) -> u8 {
    if !report.skipped.is_empty() {
        status::INCOMPLETE
    } else if report.audit.summary.changes.map_or(
        report.audit.summary.denied + report.audit.summary.refused_running_pods > 0,
        |changes| changes > 0,
    ) {
        status::REFUSED
    } else {
        0
    }
}

/// The input's text, its name, and what reading it skipped so far.
fn read_source(args: &ReportArgs, settings: &Settings) -> Result<(String, String, Vec<String>)> {
    if let Some(path) = &args.cluster_state {
        let text = input::read_text(path, "cluster state")?;
        return Ok((text, format!("dump {}", display_name(path)), Vec::new()));
    }
    #[cfg(feature = "cluster")]
    {
        let read = live::read(
            args.kubeconfig.as_deref(),
            args.context.as_deref(),
            settings,
        )?;
        Ok((read.text, format!("cluster {}", read.context), read.skipped))
    }
    #[cfg(not(feature = "cluster"))]
    {
        let _ = settings;
        anyhow::bail!(
            "--kubeconfig needs the `cluster` feature, which this build of priority-guard leaves out; \
             dump the cluster with kubectl and pass --cluster-state"
        )
    }
}

/// Reads `text` and builds the report.
pub(crate) fn build(
    settings: &Settings,
    baseline: Option<&Settings>,
    text: &str,
    source: String,
    skipped: &mut Vec<String>,
    settings_name: String,
    baseline_name: Option<String>,
) -> Report {
    let dump = Dump::read(text);
    skipped.extend(dump.skipped.iter().cloned());
    let objects = dump.objects;

    // The cluster as the decision sees it: Namespaces' labels and PriorityClasses.
    let mut cluster = NamespaceLabels::default();
    cluster.classes_read();
    let mut classes = Vec::new();
    let mut namespaces_seen = false;
    for object in &objects {
        let is_class =
            object.group() == priority_class::GROUP && object.kind == priority_class::KIND;
        let is_namespace = object.labels.is_some();
        if !is_class && !is_namespace {
            continue;
        }
        namespaces_seen |= is_namespace;
        match serde_json::from_str::<serde_json::Value>(&object.json) {
            Ok(value) => {
                cluster.add_cluster_object(&value, &source);
                if is_class {
                    match cluster.priority_class(&object.name) {
                        Ok(Some(info)) => classes.push((object.name.clone(), info.value)),
                        _ => skipped.push(format!(
                            "PriorityClass \"{}\" has no readable value: Pods of it are decided as the \
                             policy would with the class unreadable",
                            object.name
                        )),
                    }
                }
            }
            Err(error) => skipped.push(format!("{} \"{}\": {error}", object.kind, object.name)),
        }
    }
    classes.sort();
    if !namespaces_seen && settings.uses_namespace_labels() {
        skipped.push(
            "no Namespace in the input: rules with a namespaceSelector see only each namespace's \
             kubernetes.io/metadata.name label"
                .to_owned(),
        );
    }
    if classes.is_empty() {
        skipped.push(
            "no PriorityClass in the input: rules that read a class's value refuse as the policy does when \
             the class does not exist, and Pods without spec.priority count as priority 0"
                .to_owned(),
        );
    }

    let ownership = Ownership::of(&objects);
    let decider = Decider::new(settings, &cluster);
    let baseline_decider = baseline.map(|b| Decider::new(b, &cluster));
    let audit = audit::audit(&objects, &ownership, &decider, baseline_decider.as_ref());
    let exposure = exposure::exposure(&objects, &ownership, &cluster, &decider, &classes, skipped);
    let mut counts = BTreeMap::new();
    for object in &objects {
        *counts.entry(object.kind.clone()).or_default() += 1;
    }
    Report {
        version: 1,
        settings: settings_name,
        baseline: baseline_name,
        source,
        skipped: skipped.clone(),
        objects: counts,
        audit,
        exposure,
    }
}

/// Writes `report` in `format`; `colour` for the text format on a terminal.
pub(crate) fn write(
    out: &mut dyn Write,
    format: Format,
    report: &Report,
    colour: bool,
) -> Result<()> {
    match format {
        Format::Text => text::write(out, report, colour),
        Format::Json => json::write(out, report),
        Format::Markdown => markdown::write(out, report),
        Format::Html => html::write(out, report),
        Format::Policyreport => policyreport::write(out, report),
    }
}

/// `1.5` cores, `250m`.
pub(crate) fn cpu(millis: u64) -> String {
    if millis.is_multiple_of(1000) {
        format!("{}", millis / 1000)
    } else if millis < 1000 {
        format!("{millis}m")
    } else {
        format!("{:.1}", millis as f64 / 1000.0)
    }
}

/// `512Mi`, `1.5Gi`, `100` (bytes).
pub(crate) fn memory(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("Ti", 1 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ];
    for (unit, size) in UNITS {
        if bytes >= size {
            return if bytes.is_multiple_of(size) {
                format!("{}{unit}", bytes / size)
            } else {
                format!("{:.1}{unit}", bytes as f64 / size as f64)
            };
        }
    }
    bytes.to_string()
}

/// At most this many pairs of the matrix are listed by the formats for people (all are in json).
pub(crate) const MATRIX_LINES: usize = 100;

/// The matrix cells for people: all when few, else the largest by memory then CPU at stake.
pub(crate) fn matrix_for_people(exposure: &Exposure) -> (Vec<&exposure::MatrixCell>, usize) {
    let mut cells: Vec<_> = exposure.matrix.iter().collect();
    if cells.len() <= MATRIX_LINES {
        return (cells, 0);
    }
    cells.sort_by(|a, b| {
        (b.memory_bytes, b.cpu_millis, &a.from, &a.to).cmp(&(
            a.memory_bytes,
            a.cpu_millis,
            &b.from,
            &b.to,
        ))
    });
    let rest = cells.len() - MATRIX_LINES;
    cells.truncate(MATRIX_LINES);
    (cells, rest)
}

/// `1 ReplicaSet, 3 Pods`.
pub(crate) fn owns(counts: &BTreeMap<String, usize>) -> String {
    counts
        .iter()
        .map(|(kind, count)| format!("{count} {kind}{}", if *count == 1 { "" } else { "s" }))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `(none)` for the empty class.
pub(crate) fn class_name(class: &str) -> &str {
    if class.is_empty() { "(none)" } else { class }
}
