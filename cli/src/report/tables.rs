//! The report as titled tables, which the formats for people (text, markdown, html) render each in its way, so
//! that they say the same things in the same order.

use priority_guard_sdk::output::describe::Verdict;

use super::{Report, class_name, cpu, matrix_for_people, memory, owns};

/// How a cell is emphasised where the format can (text on a terminal, html).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tone {
    Plain,
    Bad,
    Changed,
}

/// A table with a title and a sentence above it.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    /// `audit`, `matrix`, ...: an anchor for html.
    pub id: &'static str,
    pub title: String,
    /// Sentences before the rows.
    pub intro: Vec<String>,
    pub headers: Vec<&'static str>,
    pub rows: Vec<(Tone, Vec<String>)>,
    /// Said when there is no row.
    pub empty: &'static str,
}

/// The heading lines: what was read, and what was skipped.
pub(crate) fn heading(report: &Report) -> Vec<String> {
    let mut lines = vec![format!(
        "settings {}{}, {}",
        report.settings,
        report
            .baseline
            .as_ref()
            .map(|b| format!(" compared with {b}"))
            .unwrap_or_default(),
        report.source
    )];
    let read: Vec<String> = report
        .objects
        .iter()
        .map(|(kind, count)| format!("{count} {kind}"))
        .collect();
    lines.push(format!(
        "read: {}",
        if read.is_empty() {
            "nothing".to_owned()
        } else {
            read.join(", ")
        }
    ));
    lines
}

fn verdict_tone(verdict: Verdict) -> Tone {
    match verdict {
        Verdict::Denied => Tone::Bad,
        Verdict::Defaulted | Verdict::Warned => Tone::Changed,
        Verdict::Allowed | Verdict::NotChecked => Tone::Plain,
    }
}

/// Every table, in order.
pub(crate) fn tables(report: &Report) -> Vec<Table> {
    let audit = &report.audit;
    let summary = &audit.summary;
    let mut tables = Vec::new();
    let audit_line = format!(
        "{} objects decided as a CREATE now: {} allowed, {} defaulted, {} warned, {} refused; {} owned objects counted \
         under their owners; {} of {} running Pods refused today",
        summary.objects,
        summary.allowed,
        summary.defaulted,
        summary.warned,
        summary.denied,
        summary.owned,
        summary.refused_running_pods,
        summary.running_pods
    );
    tables.push(Table {
        id: "by-rule",
        title: "Audit by namespace and rule".to_owned(),
        intro: vec![audit_line],
        headers: vec![
            "namespace",
            "rule",
            "allowed",
            "defaulted",
            "warned",
            "refused",
        ],
        rows: audit
            .by_rule
            .iter()
            .map(|c| {
                (
                    if c.denied > 0 { Tone::Bad } else { Tone::Plain },
                    vec![
                        c.namespace.clone(),
                        if c.rule.is_empty() {
                            "(none)".to_owned()
                        } else {
                            c.rule.clone()
                        },
                        c.allowed.to_string(),
                        c.defaulted.to_string(),
                        c.warned.to_string(),
                        c.denied.to_string(),
                    ],
                )
            })
            .collect(),
        empty: "no object of a kind the policy checks",
    });
    if let Some(changes) = &audit.changes {
        tables.push(Table {
            id: "changes",
            title: "What the new settings change".to_owned(),
            intro: vec![format!("{} changes", changes.len())],
            headers: vec!["namespace", "object", "change", "baseline", "new"],
            rows: changes
                .iter()
                .map(|c| {
                    let side = |s: &super::audit::Side| {
                        let mut text = s.verdict.word().to_owned();
                        if let Some(class) = &s.default_class {
                            text.push_str(&format!(" to {class}"));
                        }
                        if let Some(rule) = &s.rule {
                            text.push_str(&format!(" by {rule}"));
                        }
                        if s.verdict == Verdict::Denied {
                            text.push_str(&format!(": {}", s.message));
                        }
                        text
                    };
                    (
                        verdict_tone(c.new.verdict),
                        vec![
                            c.object.namespace.clone(),
                            format!(
                                "{}{}",
                                c.object.reference(),
                                if c.running_pod { " (running)" } else { "" }
                            ),
                            c.change.words().to_owned(),
                            side(&c.baseline),
                            side(&c.new),
                        ],
                    )
                })
                .collect(),
            empty: "the two settings decide every object the same way",
        });
    } else {
        tables.push(Table {
            id: "objects",
            title: "Objects".to_owned(),
            intro: Vec::new(),
            headers: vec!["namespace", "object", "verdict", "rule", "owns", "detail"],
            rows: audit
                .objects
                .iter()
                .map(|o| {
                    (
                        verdict_tone(o.verdict),
                        vec![
                            o.object.namespace.clone(),
                            o.object.reference(),
                            o.verdict.word().to_owned(),
                            o.rule.clone().unwrap_or_default(),
                            owns(&o.owns),
                            match (&o.default_class, o.verdict) {
                                (Some(class), _) => format!("gets {class}"),
                                (None, Verdict::Denied) => o.message.clone(),
                                _ => String::new(),
                            },
                        ],
                    )
                })
                .collect(),
            empty: "no object of a kind the policy checks",
        });
        tables.push(Table {
            id: "running",
            title: "Running Pods the rules refuse today".to_owned(),
            intro: Vec::new(),
            headers: vec![
                "namespace",
                "pod",
                "owner",
                "class",
                "priority",
                "rule",
                "message",
            ],
            rows: audit
                .refused_running_pods
                .iter()
                .map(|p| {
                    (
                        Tone::Bad,
                        vec![
                            p.pod.namespace.clone(),
                            p.pod.name.clone(),
                            p.owner.clone().unwrap_or_default(),
                            class_name(&p.class).to_owned(),
                            p.priority.map(|p| p.to_string()).unwrap_or_default(),
                            p.rule.clone().unwrap_or_default(),
                            p.message.clone(),
                        ],
                    )
                })
                .collect(),
            empty: "none",
        });
    }

    let exposure = &report.exposure;
    tables.push(Table {
        id: "namespaces",
        title: "Preemption exposure by namespace".to_owned(),
        intro: vec![format!(
            "{} running Pods in {} namespaces",
            exposure.pods,
            exposure.namespaces.len()
        )],
        headers: vec![
            "namespace",
            "pods",
            "priorities",
            "classes",
            "guaranteed",
            "burstable",
            "best effort",
            "no requests",
            "no class or 0",
            "max grace",
            "cpu",
            "memory",
        ],
        rows: exposure
            .namespaces
            .iter()
            .map(|n| {
                (
                    if n.unprioritised > 0 || n.qos.best_effort > 0 {
                        Tone::Changed
                    } else {
                        Tone::Plain
                    },
                    vec![
                        n.namespace.clone(),
                        n.pods.to_string(),
                        if n.lowest_priority == n.highest_priority {
                            n.lowest_priority.to_string()
                        } else {
                            format!("{}..{}", n.lowest_priority, n.highest_priority)
                        },
                        n.classes
                            .iter()
                            .map(|(class, count)| format!("{} {count}", class_name(class)))
                            .collect::<Vec<_>>()
                            .join(", "),
                        n.qos.guaranteed.to_string(),
                        n.qos.burstable.to_string(),
                        n.qos.best_effort.to_string(),
                        n.without_requests.to_string(),
                        n.unprioritised.to_string(),
                        format!(
                            "{}s ({})",
                            n.max_grace_period_seconds, n.max_grace_period_pod
                        ),
                        cpu(n.cpu_millis),
                        memory(n.memory_bytes),
                    ],
                )
            })
            .collect(),
        empty: "no running Pod",
    });
    let (cells, rest) = matrix_for_people(exposure);
    let mut intro = vec![
        "Pods of `from` with a strictly higher priority and PreemptLowerPriority can preempt Pods of `to`; \
         the requests are those of the Pods at stake"
            .to_owned(),
    ];
    if rest > 0 {
        intro.push(format!(
            "the {} pairs with the most memory at stake; {rest} more in --format json",
            cells.len()
        ));
    }
    tables.push(Table {
        id: "matrix",
        title: "Who can preempt whom".to_owned(),
        intro,
        headers: vec![
            "from",
            "to",
            "pods that can preempt",
            "pods at stake",
            "cpu",
            "memory",
        ],
        rows: cells
            .iter()
            .map(|c| {
                (
                    if c.from == c.to {
                        Tone::Plain
                    } else {
                        Tone::Changed
                    },
                    vec![
                        c.from.clone(),
                        c.to.clone(),
                        c.preemptors.to_string(),
                        c.victims.to_string(),
                        cpu(c.cpu_millis),
                        memory(c.memory_bytes),
                    ],
                )
            })
            .collect(),
        empty: "no Pod can preempt another",
    });
    tables.push(Table {
        id: "unprioritised",
        title: "Pods with no class or priority 0".to_owned(),
        intro: vec!["the first Pods to be preempted".to_owned()],
        headers: vec!["namespace", "owner", "class", "priority", "pods"],
        rows: exposure
            .unprioritised
            .iter()
            .map(|u| {
                (
                    Tone::Changed,
                    vec![
                        u.namespace.clone(),
                        u.owner.clone(),
                        class_name(&u.class).to_owned(),
                        u.priority.to_string(),
                        u.pods.to_string(),
                    ],
                )
            })
            .collect(),
        empty: "none",
    });
    tables.push(Table {
        id: "inversions",
        title: "Inversions".to_owned(),
        intro: vec![
            "Pods running above every class their namespace's rule allows, at or above the priority of a class \
             it refuses".to_owned(),
        ],
        headers: vec!["namespace", "owner", "class", "priority", "refused class", "its priority", "rule", "pods"],
        rows: exposure
            .inversions
            .iter()
            .map(|i| {
                (
                    Tone::Bad,
                    vec![
                        i.namespace.clone(),
                        i.owner.clone(),
                        class_name(&i.class).to_owned(),
                        i.priority.to_string(),
                        i.refused_class.clone(),
                        i.refused_class_priority.to_string(),
                        i.rule.clone(),
                        i.pods.to_string(),
                    ],
                )
            })
            .collect(),
        empty: "none",
    });
    tables
}
