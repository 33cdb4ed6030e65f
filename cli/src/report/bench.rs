//! A generated cluster dump for `make bench-report` (docs/performance.md): `pods` Pods under `pods / 10` workloads
//! (Deployments with their ReplicaSet, StatefulSets, DaemonSets, CronJobs with a Job) in `pods / 200` namespaces,
//! as `kubectl get ... -A -o json` prints them, with labels, a status and two containers per Pod, the classes
//! of the prod/preprod/dev settings mixed so that every verdict and every part of the exposure has work.

use std::io::Write;

use anyhow::Result;
use serde_json::{Value, json};

const CLASSES: [(&str, i32, Option<&str>); 5] = [
    ("prod-pc", 1_000_000, None),
    ("preprod-pc", 10_000, None),
    ("dev-pc", 1_000, Some("Never")),
    ("cluster-default", 10, Some("Never")),
    ("system-cluster-critical", 2_000_000_000, None),
];

const GRACE_SECONDS: [i64; 4] = [30, 60, 5, 300];

fn pod_spec(class: Option<usize>, seed: usize) -> Value {
    let memory = ["128Mi", "256Mi", "512Mi", "1Gi"][seed % 4];
    let cpu = ["100m", "250m", "500m", "1"][seed % 4];
    let resources = match seed % 3 {
        0 => {
            json!({"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}})
        }
        1 => json!({"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory}}),
        _ => json!({}),
    };
    let mut spec = json!({
        "containers": [
            {"name": "app", "image": format!("registry.example/team/app:{}", seed % 50),
             "ports": [{"containerPort": 8080, "protocol": "TCP"}], "resources": resources,
             "env": [{"name": "MODE", "value": "serve"}],
             "terminationMessagePath": "/dev/termination-log", "imagePullPolicy": "IfNotPresent"},
            {"name": "proxy", "image": "registry.example/proxy:1.4",
             "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}}}
        ],
        "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
        "serviceAccountName": "default", "terminationGracePeriodSeconds": GRACE_SECONDS[seed % 4],
    });
    if let Some(class) = class {
        spec["priorityClassName"] = json!(CLASSES[class].0);
    }
    spec
}

/// Writes the dump: one `List`.
pub(crate) fn generate(out: &mut dyn Write, pods: usize) -> Result<()> {
    let workloads = (pods / 10).max(1);
    let namespaces = (pods / 200).max(1);
    let mut first = true;
    let mut item = |out: &mut dyn Write, value: Value| -> Result<()> {
        out.write_all(if first { b"\n" } else { b",\n" })?;
        first = false;
        serde_json::to_writer(&mut *out, &value)?;
        Ok(())
    };
    out.write_all(
        br#"{"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": ["#,
    )?;
    let namespace = |n: usize| {
        if n == 0 {
            "prod".to_owned()
        } else {
            format!("team-{n:03}")
        }
    };
    for n in 0..namespaces {
        let env = ["prod", "preprod", "dev"][n % 3];
        item(
            out,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace(n),
            "uid": format!("ns-{n}"), "labels": {"env": env, "kubernetes.io/metadata.name": namespace(n)}},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}),
        )?;
    }
    for (name, value, policy) in CLASSES {
        let mut class = json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": name, "uid": format!("pc-{name}")}, "value": value, "description": name});
        if let Some(policy) = policy {
            class["preemptionPolicy"] = json!(policy);
        }
        item(out, class)?;
    }
    let mut pod_number = 0;
    for w in 0..workloads {
        let ns = namespace(w % namespaces);
        // One workload in seven names no class; the others cycle through the classes.
        let class = (w % 7 != 0).then_some(w % CLASSES.len());
        let spec = pod_spec(class, w);
        let kind = [
            "Deployment",
            "Deployment",
            "StatefulSet",
            "DaemonSet",
            "CronJob",
        ][w % 5];
        let (api_version, name) = match kind {
            "CronJob" => ("batch/v1", format!("job-{w}")),
            _ => ("apps/v1", format!("app-{w}")),
        };
        let uid = format!("w-{w}");
        let template = json!({"metadata": {"labels": {"app": name}}, "spec": spec});
        let workload_spec = if kind == "CronJob" {
            json!({"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template}}})
        } else {
            json!({"replicas": 10, "selector": {"matchLabels": {"app": name}}, "template": template})
        };
        item(
            out,
            json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": ns,
            "uid": uid, "labels": {"app": name, "team": ns}, "generation": 3}, "spec": workload_spec,
            "status": {"observedGeneration": 3}}),
        )?;
        let (pod_owner_kind, pod_owner_name, pod_owner_uid) = match kind {
            "Deployment" | "CronJob" => {
                let (child_kind, child_api, child_name) = if kind == "Deployment" {
                    ("ReplicaSet", "apps/v1", format!("{name}-5d8f7"))
                } else {
                    ("Job", "batch/v1", format!("{name}-2900"))
                };
                let child_uid = format!("c-{w}");
                item(
                    out,
                    json!({"apiVersion": child_api, "kind": child_kind, "metadata": {"name": child_name,
                    "namespace": ns, "uid": child_uid, "ownerReferences": [{"apiVersion": api_version,
                    "kind": kind, "name": name, "uid": uid, "controller": true}]},
                    "spec": {"template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec(class, w)}}}),
                )?;
                (child_kind, child_name, child_uid)
            }
            _ => (kind, name.clone(), uid.clone()),
        };
        let pods_here = pods / workloads + usize::from(w < pods % workloads);
        for p in 0..pods_here {
            let mut spec = pod_spec(class, w);
            let (priority, policy) = match class {
                Some(class) => (CLASSES[class].1, CLASSES[class].2),
                // The cluster's globalDefault fills in a class the settings count as none.
                None => {
                    spec["priorityClassName"] = json!("cluster-default");
                    (10, Some("Never"))
                }
            };
            spec["priority"] = json!(if p % 50 == 49 { 0 } else { priority });
            spec["preemptionPolicy"] = json!(policy.unwrap_or("PreemptLowerPriority"));
            spec["nodeName"] = json!(format!("node-{}", pod_number % 300));
            item(
                out,
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {
                "name": format!("{pod_owner_name}-{p:05}"), "namespace": ns, "uid": format!("p-{pod_number}"),
                "labels": {"app": name, "pod-template-hash": "5d8f7"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": pod_owner_kind, "name": pod_owner_name,
                    "uid": pod_owner_uid, "controller": true, "blockOwnerDeletion": true}]},
                "spec": spec,
                "status": {"phase": if kind == "CronJob" && p % 2 == 0 { "Succeeded" } else { "Running" },
                    "qosClass": "Burstable", "podIP": format!("10.{}.{}.{}", pod_number / 65536 % 256,
                    pod_number / 256 % 256, pod_number % 256),
                    "conditions": [{"type": "Ready", "status": "True"}]}}),
            )?;
            pod_number += 1;
        }
    }
    out.write_all(b"\n]}\n")?;
    Ok(())
}
