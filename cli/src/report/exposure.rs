//! Preemption exposure, from the running Pods' `spec.priority`, `preemptionPolicy` and requests.
//!
//! A Pod can preempt another when its priority is strictly higher and its preemption policy is
//! `PreemptLowerPriority` (the default; `Never` never preempts). For each pair of namespaces (a namespace with
//! itself included) the matrix counts the Pods of the first that can preempt at least one Pod of the second, the
//! Pods of the second that at least one Pod of the first can preempt, and those victims' CPU and memory requests.
//! Finished Pods (`Succeeded`, `Failed`) are left out. A Pod without `spec.priority` (not yet admitted) has its
//! class's value, or 0.

use std::collections::BTreeMap;

use serde::Serialize;

use super::decision::Decider;
use super::dump::DumpObject;
use super::owners::Ownership;
use super::resources::Qos;
use crate::labels::NamespaceLabels;

/// The QoS mix of a namespace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct QosCounts {
    pub guaranteed: usize,
    pub burstable: usize,
    pub best_effort: usize,
}

/// One namespace's running Pods.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NamespaceExposure {
    pub namespace: String,
    pub pods: usize,
    /// Pods per `priorityClassName` (`""` for none).
    pub classes: BTreeMap<String, usize>,
    pub qos: QosCounts,
    /// Pods whose effective CPU or memory request is zero.
    pub without_requests: usize,
    /// Pods with no class or priority 0.
    pub unprioritised: usize,
    pub lowest_priority: i32,
    pub highest_priority: i32,
    /// The largest `terminationGracePeriodSeconds`, and a Pod that has it (the first by name).
    pub max_grace_period_seconds: i64,
    pub max_grace_period_pod: String,
    /// The namespace's Pods' requests, summed.
    pub cpu_millis: u64,
    pub memory_bytes: u64,
}

/// Who can preempt whom, between two namespaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MatrixCell {
    /// The namespace of the Pods that can preempt.
    pub from: String,
    /// The namespace of the Pods that can be preempted.
    pub to: String,
    /// Pods of `from` that can preempt at least one Pod of `to`.
    pub preemptors: usize,
    /// Pods of `to` that at least one Pod of `from` can preempt.
    pub victims: usize,
    /// The victims' requests.
    pub cpu_millis: u64,
    pub memory_bytes: u64,
}

/// Pods with no class or priority 0 (the first to be preempted), by top owner.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Unprioritised {
    pub namespace: String,
    /// `Deployment/web`, or the Pod itself.
    pub owner: String,
    pub class: String,
    pub priority: i32,
    pub pods: usize,
}

/// Pods running above the priority of every class their namespace's rule allows, and at or above the priority
/// of a class it refuses, by top owner.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Inversion {
    pub namespace: String,
    pub owner: String,
    pub class: String,
    pub priority: i32,
    /// The refused class of the highest value at or below `priority`.
    pub refused_class: String,
    pub refused_class_priority: i32,
    /// The rule that refuses it.
    pub rule: String,
    pub pods: usize,
}

/// An inversion's fields but its count, in [`Inversion`]'s order.
type InversionKey = (String, String, String, i32, String, i32, String);

/// The exposure section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Exposure {
    /// Running Pods counted (finished ones and those whose resources cannot be read are not).
    pub pods: usize,
    pub namespaces: Vec<NamespaceExposure>,
    /// Every pair of namespaces where some Pod can preempt another, sorted by `from` then `to`.
    pub matrix: Vec<MatrixCell>,
    pub unprioritised: Vec<Unprioritised>,
    pub inversions: Vec<Inversion>,
}

/// A running Pod, as the exposure counts it.
struct RunningPod<'o> {
    index: usize,
    name: &'o str,
    class: &'o str,
    priority: i32,
    preempts: bool,
    cpu_millis: u64,
    memory_bytes: u64,
}

/// A namespace's Pods, sorted for the matrix.
#[derive(Default)]
struct Sorted {
    /// Priorities of the Pods that can preempt, ascending.
    preempting: Vec<i32>,
    /// Every priority, ascending, with the running sums of requests up to each (exclusive).
    priorities: Vec<i32>,
    cpu_before: Vec<u64>,
    memory_before: Vec<u64>,
}

/// Computes the exposure; `skipped` receives the Pods whose resources cannot be read.
pub(crate) fn exposure(
    objects: &[DumpObject<'_>],
    ownership: &Ownership,
    cluster: &NamespaceLabels,
    decider: &Decider<'_>,
    classes: &[(String, i32)],
    skipped: &mut Vec<String>,
) -> Exposure {
    let mut by_namespace: BTreeMap<&str, Vec<RunningPod<'_>>> = BTreeMap::new();
    for (index, object) in objects.iter().enumerate() {
        let Some(pod) = &object.pod else { continue };
        if pod.finished() {
            continue;
        }
        let resources = match &pod.resources {
            Ok(resources) => resources,
            Err(error) => {
                skipped.push(format!(
                    "Pod \"{}\" in namespace \"{}\" is not in the exposure: {error}",
                    object.name, object.namespace
                ));
                continue;
            }
        };
        let class_info = || {
            (!pod.class.is_empty())
                .then(|| cluster.priority_class(&pod.class).ok().flatten())
                .flatten()
        };
        let priority = pod
            .priority
            .or_else(|| class_info().map(|c| c.value))
            .unwrap_or(0);
        let preempts = match pod.preemption_policy.as_deref() {
            Some(policy) => policy != "Never",
            None => class_info().is_none_or(|c| c.preemption_policy.as_str() != "Never"),
        };
        by_namespace
            .entry(&object.namespace)
            .or_default()
            .push(RunningPod {
                index,
                name: &object.name,
                class: &pod.class,
                priority,
                preempts,
                cpu_millis: resources.cpu_millis,
                memory_bytes: resources.memory_bytes,
            });
    }

    let mut exposure = Exposure::default();
    let mut unprioritised: BTreeMap<(String, String, String, i32), usize> = BTreeMap::new();
    let mut inversions: BTreeMap<InversionKey, usize> = BTreeMap::new();
    let mut sorted: Vec<(&str, Sorted)> = Vec::with_capacity(by_namespace.len());
    for (namespace, pods) in &by_namespace {
        exposure.pods += pods.len();
        let mut summary = NamespaceExposure {
            namespace: (*namespace).to_owned(),
            pods: pods.len(),
            lowest_priority: i32::MAX,
            highest_priority: i32::MIN,
            max_grace_period_seconds: i64::MIN,
            ..NamespaceExposure::default()
        };
        // The classes this namespace's rule refuses, lowest value first, and the highest value it allows.
        let mut refused: Vec<(i32, &str, String)> = Vec::new();
        let mut highest_allowed = None;
        for (class, value) in classes {
            match decider.refuses_class(namespace, class) {
                Some(rule) => refused.push((*value, class.as_str(), rule)),
                None => highest_allowed = highest_allowed.max(Some(*value)),
            }
        }
        refused.sort();
        let mut order = Sorted::default();
        let mut by_priority: Vec<(i32, u64, u64)> = Vec::with_capacity(pods.len());
        for pod in pods {
            let object = &objects[pod.index];
            let facts = object.pod.as_ref();
            let resources = facts.and_then(|f| f.resources.as_ref().ok());
            *summary.classes.entry(pod.class.to_owned()).or_default() += 1;
            match resources.map(|r| r.qos) {
                Some(Qos::Guaranteed) => summary.qos.guaranteed += 1,
                Some(Qos::Burstable) => summary.qos.burstable += 1,
                Some(Qos::BestEffort) | None => summary.qos.best_effort += 1,
            }
            if pod.cpu_millis == 0 || pod.memory_bytes == 0 {
                summary.without_requests += 1;
            }
            summary.lowest_priority = summary.lowest_priority.min(pod.priority);
            summary.highest_priority = summary.highest_priority.max(pod.priority);
            let grace = facts.map_or(0, |f| f.grace_seconds);
            if grace > summary.max_grace_period_seconds
                || (grace == summary.max_grace_period_seconds
                    && pod.name < summary.max_grace_period_pod.as_str())
            {
                summary.max_grace_period_seconds = grace;
                summary.max_grace_period_pod = pod.name.to_owned();
            }
            summary.cpu_millis = summary.cpu_millis.saturating_add(pod.cpu_millis);
            summary.memory_bytes = summary.memory_bytes.saturating_add(pod.memory_bytes);
            let owner = objects[ownership.top(pod.index)].reference();
            if pod.class.is_empty() || pod.priority == 0 {
                summary.unprioritised += 1;
                *unprioritised
                    .entry((
                        (*namespace).to_owned(),
                        owner.clone(),
                        pod.class.to_owned(),
                        pod.priority,
                    ))
                    .or_default() += 1;
            }
            // Above every class the rule allows, and at or above one it refuses: the refused class of the highest
            // value at or below the Pod's priority.
            if highest_allowed.is_none_or(|highest| pod.priority > highest)
                && let Some((value, class, rule)) = refused
                    .iter()
                    .rev()
                    .find(|(value, ..)| *value <= pod.priority)
            {
                *inversions
                    .entry((
                        (*namespace).to_owned(),
                        owner,
                        pod.class.to_owned(),
                        pod.priority,
                        (*class).to_owned(),
                        *value,
                        rule.clone(),
                    ))
                    .or_default() += 1;
            }
            if pod.preempts {
                order.preempting.push(pod.priority);
            }
            by_priority.push((pod.priority, pod.cpu_millis, pod.memory_bytes));
        }
        order.preempting.sort_unstable();
        by_priority.sort_unstable();
        let (mut cpu, mut memory) = (0u64, 0u64);
        for (priority, pod_cpu, pod_memory) in by_priority {
            order.priorities.push(priority);
            order.cpu_before.push(cpu);
            order.memory_before.push(memory);
            cpu = cpu.saturating_add(pod_cpu);
            memory = memory.saturating_add(pod_memory);
        }
        order.cpu_before.push(cpu);
        order.memory_before.push(memory);
        exposure.namespaces.push(summary);
        sorted.push((namespace, order));
    }

    for (from, attackers) in &sorted {
        let Some(&highest) = attackers.preempting.last() else {
            continue;
        };
        for (to, targets) in &sorted {
            // Targets strictly below the attackers' highest priority.
            let victims = targets.priorities.partition_point(|&p| p < highest);
            if victims == 0 {
                continue;
            }
            let lowest = targets.priorities[0];
            let preemptors =
                attackers.preempting.len() - attackers.preempting.partition_point(|&p| p <= lowest);
            exposure.matrix.push(MatrixCell {
                from: (*from).to_owned(),
                to: (*to).to_owned(),
                preemptors,
                victims,
                cpu_millis: targets.cpu_before[victims],
                memory_bytes: targets.memory_before[victims],
            });
        }
    }
    exposure.unprioritised = unprioritised
        .into_iter()
        .map(
            |((namespace, owner, class, priority), pods)| Unprioritised {
                namespace,
                owner,
                class,
                priority,
                pods,
            },
        )
        .collect();
    exposure.inversions = inversions
        .into_iter()
        .map(
            |(
                (namespace, owner, class, priority, refused_class, refused_class_priority, rule),
                pods,
            )| {
                Inversion {
                    namespace,
                    owner,
                    class,
                    priority,
                    refused_class,
                    refused_class_priority,
                    rule,
                    pods,
                }
            },
        )
        .collect();
    exposure
}
