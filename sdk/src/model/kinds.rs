//! The kinds priority-guard checks, and where each keeps its pod spec.

use std::fmt;

/// One step of a path from an object to a pod spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    /// A named field of an object.
    Field(&'static str),
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Segment::Field(name) => f.write_str(name),
        }
    }
}

/// A kind whose objects carry a pod spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodSpecKind {
    /// The API group (`""` for the core group).
    pub group: &'static str,
    /// The API version the kind is served at.
    pub version: &'static str,
    /// The kind, as in `request.kind.kind` and in messages.
    pub kind: &'static str,
    /// The resource (plural) for admission rules.
    pub resource: &'static str,
    /// Where the pod spec is, from the object's root.
    pub pod_spec_path: &'static [Segment],
}

impl PodSpecKind {
    /// Whether this is a Pod, which the apiserver's Priority plugin resolves (and which is checked on CREATE only);
    /// the others are workloads whose pod template is checked on CREATE and UPDATE.
    pub fn is_pod(&self) -> bool {
        self.group.is_empty() && self.kind == "Pod"
    }

    /// Whether requests with this operation are checked.
    pub fn checks_operation(&self, operation: &str) -> bool {
        match operation {
            "CREATE" => true,
            "UPDATE" => !self.is_pod(),
            _ => false,
        }
    }

    /// The operations checked, as admission rules write them.
    pub fn operations(&self) -> &'static [&'static str] {
        if self.is_pod() {
            &["CREATE"]
        } else {
            &["CREATE", "UPDATE"]
        }
    }

    /// `apiVersion` as objects write it (`v1`, `apps/v1`).
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The pod spec path as a JSON pointer (`/spec/template/spec`).
    pub fn pod_spec_pointer(&self) -> String {
        self.pod_spec_path.iter().map(|s| format!("/{s}")).collect()
    }
}

const POD: &[Segment] = &[Segment::Field("spec")];
const TEMPLATE: &[Segment] = &[
    Segment::Field("spec"),
    Segment::Field("template"),
    Segment::Field("spec"),
];
const JOB_TEMPLATE: &[Segment] = &[
    Segment::Field("spec"),
    Segment::Field("jobTemplate"),
    Segment::Field("spec"),
    Segment::Field("template"),
    Segment::Field("spec"),
];

const fn kind(
    group: &'static str,
    kind: &'static str,
    resource: &'static str,
    pod_spec_path: &'static [Segment],
) -> PodSpecKind {
    PodSpecKind {
        group,
        version: "v1",
        kind,
        resource,
        pod_spec_path,
    }
}

/// Every kind that is checked: Pods, and the built-in workload controllers.
pub const KINDS: &[PodSpecKind] = &[
    kind("", "Pod", "pods", POD),
    kind(
        "",
        "ReplicationController",
        "replicationcontrollers",
        TEMPLATE,
    ),
    kind("apps", "Deployment", "deployments", TEMPLATE),
    kind("apps", "ReplicaSet", "replicasets", TEMPLATE),
    kind("apps", "StatefulSet", "statefulsets", TEMPLATE),
    kind("apps", "DaemonSet", "daemonsets", TEMPLATE),
    kind("batch", "Job", "jobs", TEMPLATE),
    kind("batch", "CronJob", "cronjobs", JOB_TEMPLATE),
];

/// The checked kind with this group and kind, whatever the version.
pub fn lookup(group: &str, kind: &str) -> Option<&'static PodSpecKind> {
    KINDS.iter().find(|k| k.group == group && k.kind == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cronjob_pod_spec_is_under_job_template() {
        let cronjob = lookup("batch", "CronJob").expect("CronJob is checked");
        assert_eq!(
            cronjob.pod_spec_pointer(),
            "/spec/jobTemplate/spec/template/spec"
        );
    }

    #[test]
    fn pods_are_checked_on_create_only() {
        let pod = lookup("", "Pod").expect("Pod is checked");
        assert!(pod.checks_operation("CREATE"));
        assert!(!pod.checks_operation("UPDATE"));
        let deployment = lookup("apps", "Deployment").expect("Deployment is checked");
        assert!(deployment.checks_operation("UPDATE"));
        assert!(!deployment.checks_operation("DELETE"));
    }

    #[test]
    fn same_kind_in_another_group_is_not_checked() {
        assert!(lookup("example.com", "Deployment").is_none());
        assert!(lookup("apps", "Pod").is_none());
    }
}
