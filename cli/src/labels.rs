//! The labels of the namespaces, for rules with a `namespaceSelector`.
//!
//! A namespace's labels come from the first of:
//! 1. a Namespace object in the input (the last one, if several define the same namespace);
//! 2. `--namespace-labels`, for the `--namespace` namespace;
//! 3. a Namespace object in `--cluster-state`;
//! 4. otherwise the namespace has no labels but `kubernetes.io/metadata.name`.
//!
//! Every namespace also carries `kubernetes.io/metadata.name: <name>`, which the apiserver sets on all of them.
//!
//! The PriorityClasses that rules with `maxPriority` or `allowedPreemptionPolicies` look up come from
//! `--cluster-state` only. `check` and `report` share these lookups.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use priority_guard_host::ClusterState;
use priority_guard_sdk::decide::Labels;
use priority_guard_sdk::model::priority_class::{self as priority_classes, PriorityClassInfo};
use priority_guard_sdk::output::manifest::{namespace_labels, with_name_label};

/// Where namespace labels are looked up.
#[derive(Debug, Default)]
pub(crate) struct NamespaceLabels {
    input: BTreeMap<String, Labels>,
    flag: Option<(String, Labels)>,
    cluster: BTreeMap<String, Result<Labels, String>>,
    /// The PriorityClasses of `--cluster-state` (`None` without one), for rules with `maxPriority` or
    /// `allowedPreemptionPolicies`.
    classes: Option<BTreeMap<String, Result<PriorityClassInfo, String>>>,
}

/// Parses `k=v,k2=v2` (an empty string is no labels).
fn parse_flag(text: &str) -> Result<Labels> {
    let mut labels = Labels::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                labels.insert(key.trim().to_owned(), value.trim().to_owned());
            }
            _ => bail!("invalid --namespace-labels: `{pair}` is not key=value"),
        }
    }
    Ok(labels)
}

impl NamespaceLabels {
    /// From the command line: `--namespace-labels` for `namespace`, and the Namespaces of `--cluster-state`.
    pub(crate) fn from_args(
        namespace: &str,
        flag: Option<&str>,
        cluster_state: Option<&Path>,
    ) -> Result<Self> {
        let mut labels = Self::default();
        if let Some(text) = flag {
            labels.flag = Some((namespace.to_owned(), parse_flag(text)?));
        }
        if let Some(path) = cluster_state {
            let state = ClusterState::from_file(path).context("cannot load the cluster state")?;
            let namespaces = state
                .list("v1", "Namespace", None, None, None)
                .context("cannot list the Namespaces of the cluster state")?;
            let classes = state
                .list(
                    priority_classes::API_VERSION,
                    priority_classes::KIND,
                    None,
                    None,
                    None,
                )
                .context("cannot list the PriorityClasses of the cluster state")?;
            let origin = format!("the cluster state {}", path.display());
            labels.classes_read();
            for object in classes.into_iter().chain(namespaces) {
                labels.add_cluster_object(object, &origin);
            }
        }
        Ok(labels)
    }

    /// Records a Namespace or PriorityClass of the cluster (`--cluster-state`, or what `report` read); other
    /// objects are ignored. `origin` names where it was read, for the decision's message when it is unusable.
    /// A PriorityClass makes classes known: a cluster without one then has no such class, rather than no
    /// PriorityClass lookup.
    pub(crate) fn add_cluster_object(&mut self, object: &serde_json::Value, origin: &str) {
        let name = || {
            object
                .pointer("/metadata/name")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let kind = object.get("kind").and_then(serde_json::Value::as_str);
        if kind == Some(priority_classes::KIND)
            && object.get("apiVersion").and_then(serde_json::Value::as_str)
                == Some(priority_classes::API_VERSION)
        {
            let name = name();
            let info = PriorityClassInfo::from_json(
                &object.to_string(),
                &format!("PriorityClass \"{name}\""),
            )
            .map_err(|e| format!("{origin}: {e}"));
            self.classes.get_or_insert_default().insert(name, info);
            return;
        }
        match namespace_labels(object) {
            Ok(Some((name, found))) => {
                self.cluster.insert(name, Ok(found));
            }
            Ok(None) => {}
            Err(error) => {
                self.cluster
                    .insert(name(), Err(format!("{origin}: {error}")));
            }
        }
    }

    /// Marks PriorityClasses as read (none yet): lookups then find no class instead of failing.
    pub(crate) fn classes_read(&mut self) {
        self.classes.get_or_insert_default();
    }

    /// Records a Namespace found in the input.
    pub(crate) fn add_from_input(&mut self, namespace: String, labels: Labels) {
        self.input.insert(namespace, labels);
    }

    /// A PriorityClass of `--cluster-state`: `Ok(None)` when the cluster state does not hold it, an error without
    /// a cluster state.
    pub(crate) fn priority_class(&self, name: &str) -> Result<Option<PriorityClassInfo>, String> {
        match &self.classes {
            None => Err(
                "no --cluster-state to read PriorityClasses from (kubectl get priorityclasses -o yaml)"
                    .to_owned(),
            ),
            Some(classes) => classes.get(name).cloned().transpose(),
        }
    }

    /// The labels of `namespace` (see the module documentation for the order).
    pub(crate) fn get(&self, namespace: &str) -> Result<Labels, String> {
        if let Some(labels) = self.input.get(namespace) {
            return Ok(labels.clone());
        }
        if let Some((name, labels)) = &self.flag
            && name == namespace
        {
            return Ok(with_name_label(namespace, labels.clone()));
        }
        match self.cluster.get(namespace) {
            Some(found) => found.clone(),
            None => Ok(with_name_label(namespace, Labels::new())),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_flag_parses_pairs_and_refuses_others() {
        assert_eq!(
            parse_flag("env=prod, team = shop,").unwrap(),
            labels(&[("env", "prod"), ("team", "shop")])
        );
        assert_eq!(parse_flag("").unwrap(), Labels::new());
        let err = parse_flag("env").unwrap_err().to_string();
        assert!(err.contains("`env`"), "{err}");
        assert!(parse_flag("=x").is_err());
    }

    #[test]
    fn input_namespaces_win_over_the_flag_and_unknown_ones_only_have_their_name() {
        let mut found = NamespaceLabels::from_args("shop", Some("env=dev"), None).unwrap();
        assert_eq!(
            found.get("shop").unwrap(),
            labels(&[("env", "dev"), ("kubernetes.io/metadata.name", "shop")])
        );
        found.add_from_input("shop".into(), labels(&[("env", "preprod")]));
        assert_eq!(found.get("shop").unwrap(), labels(&[("env", "preprod")]));
        assert_eq!(
            found.get("other").unwrap(),
            labels(&[("kubernetes.io/metadata.name", "other")])
        );
    }
}
