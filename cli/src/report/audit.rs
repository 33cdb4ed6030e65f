//! The audit: every object that nothing in the dump owns decided as a CREATE now, as Kubewarden's background
//! audit does (refused, defaulted, accepted), counted per namespace and rule; the running Pods whose class or
//! priority the rules refuse today; and, with a baseline, only what changes between two settings files.

use std::collections::BTreeMap;

use priority_guard_sdk::output::describe::Verdict;
use serde::Serialize;

use super::decision::{Decided, Decider};
use super::dump::DumpObject;
use super::owners::Ownership;

/// Which object a line of the report is about. Field order is sort order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ObjectRef {
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub kind: String,
    pub name: String,
    pub api_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
}

impl ObjectRef {
    pub(crate) fn of(object: &DumpObject<'_>) -> Self {
        Self {
            namespace: object.namespace.clone(),
            kind: object.kind.clone(),
            name: object.name.clone(),
            api_version: object.api_version.clone(),
            uid: object.uid.clone(),
        }
    }

    /// `Deployment/web`.
    pub(crate) fn reference(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

/// The decision on one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuditEntry {
    #[serde(flatten)]
    pub object: ObjectRef,
    /// `allowed`, `defaulted`, `warned` (refused by a rule whose action is Warn or Audit) or `denied`.
    pub verdict: Verdict,
    pub rule: Option<String>,
    /// The finding's identifier, as `priority-guard check` names it.
    pub finding: Option<&'static str>,
    pub message: String,
    /// The class the object or its Pods get, when defaulted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_class: Option<String>,
    /// What it owns in the dump, by kind (ReplicaSets, Pods, Jobs).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub owns: BTreeMap<String, usize>,
}

/// A running Pod that the rules refuse today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RefusedPod {
    #[serde(flatten)]
    pub pod: ObjectRef,
    /// Its top owner (`Deployment/web`), when another object of the dump owns it.
    pub owner: Option<String>,
    /// `spec.priorityClassName` (empty for none).
    pub class: String,
    /// `spec.priority`.
    pub priority: Option<i32>,
    pub rule: Option<String>,
    pub finding: Option<&'static str>,
    pub message: String,
}

/// Counts per namespace and rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RuleCount {
    pub namespace: String,
    /// The rule that decided; empty when none applies.
    pub rule: String,
    pub allowed: usize,
    pub defaulted: usize,
    /// Refused by a rule whose action is Warn or Audit: accepted, with a warning or an audit annotation.
    pub warned: usize,
    pub denied: usize,
}

/// What a new settings file changes for one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum ChangeKind {
    StartsRefusing,
    StopsRefusing,
    StartsDefaulting,
    StopsDefaulting,
    DefaultChanges,
}

impl ChangeKind {
    pub(crate) fn words(self) -> &'static str {
        match self {
            ChangeKind::StartsRefusing => "would start refusing",
            ChangeKind::StopsRefusing => "would stop refusing",
            ChangeKind::StartsDefaulting => "would start defaulting",
            ChangeKind::StopsDefaulting => "would stop defaulting",
            ChangeKind::DefaultChanges => "would default to another class",
        }
    }
}

/// One side of a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Side {
    pub verdict: Verdict,
    pub rule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_class: Option<String>,
    pub message: String,
}

impl From<&Decided> for Side {
    fn from(decided: &Decided) -> Self {
        Self {
            verdict: decided.verdict,
            rule: decided.rule.clone(),
            default_class: decided.default_class.clone(),
            message: decided.message.clone(),
        }
    }
}

/// An object (or running Pod) that the new settings decide otherwise than the baseline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Change {
    #[serde(flatten)]
    pub object: ObjectRef,
    /// Whether it is a running Pod (else an object decided as a CREATE).
    pub running_pod: bool,
    pub change: ChangeKind,
    pub baseline: Side,
    pub new: Side,
}

/// Totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuditSummary {
    /// Objects decided (top owners of a checked kind).
    pub objects: usize,
    pub allowed: usize,
    pub defaulted: usize,
    /// Refused by a rule whose action is Warn or Audit: accepted, with a warning or an audit annotation.
    pub warned: usize,
    pub denied: usize,
    /// Objects owned by another, reported under their top owner.
    pub owned: usize,
    /// Running Pods decided, and those refused.
    pub running_pods: usize,
    pub refused_running_pods: usize,
    /// With a baseline: the changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<usize>,
}

/// The audit section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Audit {
    pub summary: AuditSummary,
    /// Counts per namespace and rule (with the new settings under a baseline).
    pub by_rule: Vec<RuleCount>,
    /// Every object decided; empty under a baseline, which lists `changes` instead.
    pub objects: Vec<AuditEntry>,
    /// Running Pods refused today; empty under a baseline.
    pub refused_running_pods: Vec<RefusedPod>,
    /// With a baseline: what changes, objects first, then running Pods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Vec<Change>>,
}

fn change(baseline: &Decided, new: &Decided) -> Option<ChangeKind> {
    let refused = |d: &Decided| d.verdict == Verdict::Denied;
    match (refused(baseline), refused(new)) {
        (false, true) => return Some(ChangeKind::StartsRefusing),
        (true, false) => return Some(ChangeKind::StopsRefusing),
        (true, true) => return None,
        (false, false) => {}
    }
    match (&baseline.default_class, &new.default_class) {
        (None, Some(_)) => Some(ChangeKind::StartsDefaulting),
        (Some(_), None) => Some(ChangeKind::StopsDefaulting),
        (Some(a), Some(b)) if a != b => Some(ChangeKind::DefaultChanges),
        _ => None,
    }
}

/// Audits `objects` with `decider`; with `baseline`, lists only what changes from the baseline's decisions.
pub(crate) fn audit(
    objects: &[DumpObject<'_>],
    ownership: &Ownership,
    decider: &Decider<'_>,
    baseline: Option<&Decider<'_>>,
) -> Audit {
    let mut audit = Audit::default();
    let mut owns = ownership.owned_counts(objects);
    let mut counts: BTreeMap<(String, String), RuleCount> = BTreeMap::new();
    let mut changes = Vec::new();
    // Top-level objects' decisions, reused for the Pods among them.
    let mut decided_top: BTreeMap<usize, Decided> = BTreeMap::new();
    for (index, object) in objects.iter().enumerate() {
        if ownership.is_owned(index) {
            audit.summary.owned += 1;
            continue;
        }
        let Some(decided) = decider.object(object) else {
            continue;
        };
        audit.summary.objects += 1;
        let count = counts
            .entry((
                object.namespace.clone(),
                decided.rule.clone().unwrap_or_default(),
            ))
            .or_insert_with(|| RuleCount {
                namespace: object.namespace.clone(),
                rule: decided.rule.clone().unwrap_or_default(),
                ..RuleCount::default()
            });
        match decided.verdict {
            Verdict::Denied => {
                audit.summary.denied += 1;
                count.denied += 1;
            }
            Verdict::Defaulted => {
                audit.summary.defaulted += 1;
                count.defaulted += 1;
            }
            Verdict::Warned => {
                audit.summary.warned += 1;
                count.warned += 1;
            }
            Verdict::Allowed | Verdict::NotChecked => {
                audit.summary.allowed += 1;
                count.allowed += 1;
            }
        }
        if let Some(baseline) = baseline
            && let Some(before) = baseline.object(object)
            && let Some(kind) = change(&before, &decided)
        {
            changes.push(Change {
                object: ObjectRef::of(object),
                running_pod: false,
                change: kind,
                baseline: Side::from(&before),
                new: Side::from(&decided),
            });
        }
        if baseline.is_none() {
            audit.objects.push(AuditEntry {
                object: ObjectRef::of(object),
                verdict: decided.verdict,
                rule: decided.rule.clone(),
                finding: decided.finding,
                message: decided.message.clone(),
                default_class: decided.default_class.clone(),
                owns: owns.remove(&index).unwrap_or_default(),
            });
        }
        if object.pod.is_some() {
            decided_top.insert(index, decided);
        }
    }
    let mut pod_changes = Vec::new();
    for (index, object) in objects.iter().enumerate() {
        let Some(pod) = &object.pod else { continue };
        if pod.finished() {
            continue;
        }
        audit.summary.running_pods += 1;
        let decided = match decided_top.remove(&index) {
            Some(decided) => Some(decided),
            None => decider.object(object),
        };
        let Some(decided) = decided else { continue };
        let owner = ownership
            .is_owned(index)
            .then(|| objects[ownership.top(index)].reference());
        if let Some(baseline) = baseline
            && let Some(before) = baseline.object(object)
            && (before.verdict == Verdict::Denied) != (decided.verdict == Verdict::Denied)
            && let Some(kind) = change(&before, &decided)
        {
            pod_changes.push(Change {
                object: ObjectRef::of(object),
                running_pod: true,
                change: kind,
                baseline: Side::from(&before),
                new: Side::from(&decided),
            });
        }
        if decided.verdict == Verdict::Denied {
            audit.summary.refused_running_pods += 1;
            if baseline.is_none() {
                audit.refused_running_pods.push(RefusedPod {
                    pod: ObjectRef::of(object),
                    owner,
                    class: pod.class.clone(),
                    priority: pod.priority,
                    rule: decided.rule,
                    finding: decided.finding,
                    message: decided.message,
                });
            }
        }
    }
    audit.by_rule = counts.into_values().collect();
    audit.objects.sort_by(|a, b| a.object.cmp(&b.object));
    audit.refused_running_pods.sort_by(|a, b| a.pod.cmp(&b.pod));
    if baseline.is_some() {
        changes.sort_by(|a, b| a.object.cmp(&b.object));
        pod_changes.sort_by(|a, b| a.object.cmp(&b.object));
        changes.append(&mut pod_changes);
        audit.summary.changes = Some(changes.len());
        audit.changes = Some(changes);
    }
    audit
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    fn decided(verdict: Verdict, default_class: Option<&str>) -> Decided {
        Decided {
            verdict,
            rule: Some("r".to_owned()),
            finding: None,
            message: String::new(),
            default_class: default_class.map(str::to_owned),
        }
    }

    #[test]
    fn a_change_is_a_refusal_or_a_default_that_starts_stops_or_moves() {
        use Verdict::{Allowed, Defaulted, Denied};
        let cases = [
            (
                (Allowed, None),
                (Denied, None),
                Some(ChangeKind::StartsRefusing),
            ),
            (
                (Defaulted, Some("a")),
                (Denied, None),
                Some(ChangeKind::StartsRefusing),
            ),
            (
                (Denied, None),
                (Allowed, None),
                Some(ChangeKind::StopsRefusing),
            ),
            (
                (Allowed, None),
                (Defaulted, Some("a")),
                Some(ChangeKind::StartsDefaulting),
            ),
            (
                (Defaulted, Some("a")),
                (Allowed, None),
                Some(ChangeKind::StopsDefaulting),
            ),
            (
                (Defaulted, Some("a")),
                (Defaulted, Some("b")),
                Some(ChangeKind::DefaultChanges),
            ),
            ((Defaulted, Some("a")), (Defaulted, Some("a")), None),
            ((Denied, None), (Denied, None), None),
            ((Allowed, None), (Allowed, None), None),
        ];
        for ((v1, d1), (v2, d2), expected) in cases {
            assert_eq!(
                change(&decided(v1, d1), &decided(v2, d2)),
                expected,
                "{v1:?} {d1:?} -> {v2:?} {d2:?}"
            );
        }
    }
}
