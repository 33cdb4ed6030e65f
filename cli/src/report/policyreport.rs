//! The policyreport format: `wgpolicyk8s.io/v1alpha2` objects as YAML documents, one PolicyReport per namespace
//! and one ClusterPolicyReport for cluster-scoped objects (PriorityClasses decided by the `priorityClasses`
//! settings), the way Kubewarden's audit-scanner reports: one result per object, `policy: priority-guard`, the
//! settings rule that decided as `rule`, `result: fail` for a refusal, `warn` for the refusal of a rule whose action is Warn or Audit, and `pass` otherwise, the policy's message,
//! and the object in `resources`. Running Pods refused today get their own result; with `--baseline`, only the
//! objects whose decision changes are reported, with the change in `properties`. No timestamp: the same input
//! gives the same reports.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Result;
use priority_guard_sdk::output::describe::Verdict;
use serde::Serialize;

use super::Report;
use super::audit::ObjectRef;

/// The reports' name and `policy`.
const POLICY: &str = "priority-guard";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PolicyReport<'r> {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata<'r>,
    summary: Summary,
    results: Vec<ReportResult<'r>>,
}

#[derive(Debug, Serialize)]
struct Metadata<'r> {
    name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'r str>,
    labels: BTreeMap<&'static str, &'static str>,
}

#[derive(Debug, Default, Serialize)]
struct Summary {
    pass: usize,
    fail: usize,
    warn: usize,
    error: usize,
    skip: usize,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ReportResult<'r> {
    source: &'static str,
    policy: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<&'r str>,
    result: &'static str,
    scored: bool,
    message: &'r str,
    resources: Vec<Resource<'r>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    properties: BTreeMap<&'static str, String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Resource<'r> {
    api_version: &'r str,
    kind: &'r str,
    name: &'r str,
    #[serde(skip_serializing_if = "str::is_empty")]
    namespace: &'r str,
    #[serde(skip_serializing_if = "str::is_empty")]
    uid: &'r str,
}

fn resource(object: &ObjectRef) -> Resource<'_> {
    Resource {
        api_version: &object.api_version,
        kind: &object.kind,
        name: &object.name,
        namespace: &object.namespace,
        uid: &object.uid,
    }
}

/// Writes the reports.
pub(crate) fn write(out: &mut dyn Write, report: &Report) -> Result<()> {
    let mut by_namespace: BTreeMap<&str, Vec<ReportResult<'_>>> = BTreeMap::new();
    fn add<'r>(
        by_namespace: &mut BTreeMap<&'r str, Vec<ReportResult<'r>>>,
        object: &'r ObjectRef,
        result: ReportResult<'r>,
    ) {
        by_namespace
            .entry(&object.namespace)
            .or_default()
            .push(result);
    }
    // A Warn or Audit rule's refusal is a `warn`, as the report format has it for findings that do not block.
    let result_of = |verdict: Verdict| match verdict {
        Verdict::Denied => "fail",
        Verdict::Warned => "warn",
        Verdict::Allowed | Verdict::Defaulted | Verdict::NotChecked => "pass",
    };
    for entry in &report.audit.objects {
        let mut properties = BTreeMap::from([("verdict", entry.verdict.token().to_owned())]);
        if let Some(finding) = entry.finding {
            properties.insert("finding", finding.to_owned());
        }
        if let Some(class) = &entry.default_class {
            properties.insert("defaultClass", class.clone());
        }
        add(
            &mut by_namespace,
            &entry.object,
            ReportResult {
                source: POLICY,
                policy: POLICY,
                rule: entry.rule.as_deref(),
                result: result_of(entry.verdict),
                scored: true,
                message: &entry.message,
                resources: vec![resource(&entry.object)],
                properties,
            },
        );
    }
    for pod in &report.audit.refused_running_pods {
        // A Pod on its own is already an object of the audit.
        if pod.owner.is_none() {
            continue;
        }
        let mut properties = BTreeMap::from([("running", "true".to_owned())]);
        if let Some(finding) = pod.finding {
            properties.insert("finding", finding.to_owned());
        }
        if let Some(owner) = &pod.owner {
            properties.insert("owner", owner.clone());
        }
        add(
            &mut by_namespace,
            &pod.pod,
            ReportResult {
                source: POLICY,
                policy: POLICY,
                rule: pod.rule.as_deref(),
                result: "fail",
                scored: true,
                message: &pod.message,
                resources: vec![resource(&pod.pod)],
                properties,
            },
        );
    }
    for change in report.audit.changes.iter().flatten() {
        let mut properties = BTreeMap::from([
            (
                "change",
                serde_json::to_value(change.change)?
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            ),
            (
                "baselineVerdict",
                change.baseline.verdict.token().to_owned(),
            ),
        ]);
        if change.running_pod {
            properties.insert("running", "true".to_owned());
        }
        add(
            &mut by_namespace,
            &change.object,
            ReportResult {
                source: POLICY,
                policy: POLICY,
                rule: change.new.rule.as_deref(),
                result: result_of(change.new.verdict),
                scored: true,
                message: &change.new.message,
                resources: vec![resource(&change.object)],
                properties,
            },
        );
    }
    let labels = BTreeMap::from([("app.kubernetes.io/managed-by", POLICY)]);
    let mut documents = Vec::new();
    for (namespace, results) in by_namespace {
        let mut summary = Summary::default();
        for result in &results {
            match result.result {
                "fail" => summary.fail += 1,
                "warn" => summary.warn += 1,
                _ => summary.pass += 1,
            }
        }
        let cluster_scoped = namespace.is_empty();
        documents.push(PolicyReport {
            api_version: "wgpolicyk8s.io/v1alpha2",
            kind: if cluster_scoped {
                "ClusterPolicyReport"
            } else {
                "PolicyReport"
            },
            metadata: Metadata {
                name: POLICY,
                namespace: (!cluster_scoped).then_some(namespace),
                labels: labels.clone(),
            },
            summary,
            results,
        });
    }
    for document in documents {
        writeln!(out, "---")?;
        out.write_all(serde_yaml_ng::to_string(&document)?.as_bytes())?;
    }
    Ok(())
}
