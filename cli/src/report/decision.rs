//! The one place where the report asks the sdk's decision: each object of the dump as the CREATE the policy
//! would be asked ([`ManifestRequest`], as `priority-guard check` does), described for people by
//! [`describe`], with the cluster's namespace labels and PriorityClasses from the dump. No rule is evaluated
//! here: a class a namespace denies is found by asking the decision about a Pod of that class.

use priority_guard_sdk::decide::{Cluster, Lookups, RejectReason};
use priority_guard_sdk::model::priority_class;
use priority_guard_sdk::output::describe::{Verdict, describe};
use priority_guard_sdk::output::manifest::{ManifestRequest, ManifestSubject, split_api_version};
use priority_guard_sdk::read::request::GroupVersionKind;
use priority_guard_sdk::{AdmissionRequestView, DecisionError, Outcome, Settings, decide};
use serde_json::json;

use super::dump::DumpObject;
use crate::check::report::{refusal_finding, rule_ids};
use crate::labels::NamespaceLabels;

/// The decision on one object, as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decided {
    pub verdict: Verdict,
    /// The settings rule that decided (`fallback`, `priorityClasses`), if any.
    pub rule: Option<String>,
    /// The finding's identifier (as `check` names it), for refused and defaulted objects.
    pub finding: Option<&'static str>,
    /// The policy's message for a refusal; a sentence on why otherwise.
    pub message: String,
    /// The class the object or its Pods get, when defaulted.
    pub default_class: Option<String>,
}

/// Decides objects with one settings file and the cluster read.
#[derive(Debug)]
pub(crate) struct Decider<'a> {
    settings: &'a Settings,
    cluster: &'a NamespaceLabels,
}

impl<'a> Decider<'a> {
    pub(crate) fn new(settings: &'a Settings, cluster: &'a NamespaceLabels) -> Self {
        Self { settings, cluster }
    }

    /// The cluster as the decision asks it: namespace labels and PriorityClasses of the input.
    fn lookups(&self) -> impl Cluster + '_ {
        Lookups::new(
            |namespace: &str| self.cluster.get(namespace),
            |class: &str| self.cluster.priority_class(class),
        )
    }

    /// The policy's decision on the CREATE of `object`; `None` for a kind the policy does not check.
    pub(crate) fn object(&self, object: &DumpObject<'_>) -> Option<Decided> {
        let subject = ManifestSubject {
            api_version: object.api_version.clone(),
            kind: object.kind.clone(),
            name: object.name.clone(),
            namespace: object.namespace.clone(),
        };
        let decision =
            if object.group() == priority_class::GROUP && object.kind == priority_class::KIND {
                self.settings.priority_classes.as_ref()?;
                let (group, version) = split_api_version(&object.api_version);
                let view = AdmissionRequestView::create(
                    GroupVersionKind {
                        group: group.into(),
                        version: version.into(),
                        kind: object.kind.as_str().into(),
                    },
                    "",
                    Some(&object.name),
                    &object.json,
                );
                decide(self.settings, &view, self.lookups())
            } else {
                // The request from the naming fields, with the whole text as its object: no copy of the rules, and no
                // second parse of the object before the decision reads it.
                let head = json!({
                    "apiVersion": object.api_version,
                    "kind": object.kind,
                    "metadata": {"name": object.name, "namespace": object.namespace},
                })
                .to_string();
                let request = ManifestRequest::from_json_with(
                    &head,
                    &object.namespace,
                    &self.settings.custom_workloads,
                )
                .ok()
                .filter(ManifestRequest::is_checked)?
                .with_object(object.json.clone().into_owned());
                request.decide(self.settings, self.lookups())
            };
        Some(self.described(&subject, decision))
    }

    fn described(
        &self,
        subject: &ManifestSubject,
        decision: Result<Outcome, DecisionError>,
    ) -> Decided {
        let refusal = refusal_finding(&decision);
        let description = describe(self.settings, subject, decision);
        let finding =
            refusal.or((description.verdict == Verdict::Defaulted).then_some(rule_ids::DEFAULTED));
        Decided {
            verdict: description.verdict,
            rule: description.rule,
            finding,
            message: description.message,
            default_class: description.default.map(|d| d.class),
        }
    }

    /// The rule that refuses a Pod of `class` in `namespace` for the class itself (not allowed there, or its
    /// priority above the rule's ceiling); `None` when such a Pod is accepted or refused for another reason.
    pub(crate) fn refuses_class(&self, namespace: &str, class: &str) -> Option<String> {
        let probe = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "priority-guard-report-probe", "namespace": namespace},
            "spec": {"priorityClassName": class, "containers": []},
        });
        let request = ManifestRequest::from_object_with(&probe, namespace, &[]).ok()?;
        match request.decide(self.settings, self.lookups()) {
            Ok(Outcome::Reject {
                rule,
                reason: RejectReason::ClassNotAllowed { .. } | RejectReason::PriorityTooHigh { .. },
                ..
            }) => Some(rule),
            _ => None,
        }
    }
}
