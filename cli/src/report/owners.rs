//! Who owns whom: objects owned by another object of the dump (a ReplicaSet of a Deployment, a Pod of a
//! ReplicaSet or Job, a Job of a CronJob) are reported once, under their top owner, with the count of what it owns.
//!
//! An object's owner is its controller reference (`controller: true`), else its first owner reference, found by
//! `uid` or, when the dump has no uids, by kind and name in the object's namespace. An owner the dump does not
//! hold (a Node owning a mirror Pod, a kind that was not dumped) leaves the object on its own.

use std::collections::{BTreeMap, HashMap};

use super::dump::DumpObject;

/// How deep an ownership chain is followed (a cycle in a hand-written dump stops there).
const MAX_DEPTH: usize = 16;

/// The top owner of every object.
#[derive(Debug)]
pub(crate) struct Ownership {
    /// For each object (by index), its top owner's index; its own index when nothing owns it.
    top: Vec<usize>,
}

impl Ownership {
    /// Resolves the owners of `objects`.
    pub(crate) fn of(objects: &[DumpObject<'_>]) -> Self {
        let mut by_uid: HashMap<&str, usize> = HashMap::new();
        let mut by_name: HashMap<(&str, &str, &str), usize> = HashMap::new();
        for (index, object) in objects.iter().enumerate() {
            if !object.uid.is_empty() {
                by_uid.insert(&object.uid, index);
            }
            by_name.insert((&object.namespace, &object.kind, &object.name), index);
        }
        let parent = |index: usize| -> Option<usize> {
            let object = &objects[index];
            let owner = object
                .owners
                .iter()
                .find(|o| o.controller == Some(true))
                .or_else(|| object.owners.first())?;
            let found = if owner.uid.is_empty() {
                by_name
                    .get(&(
                        object.namespace.as_str(),
                        owner.kind.as_str(),
                        owner.name.as_str(),
                    ))
                    .copied()
            } else {
                by_uid.get(owner.uid.as_str()).copied()
            };
            found.filter(|&found| found != index && objects[found].namespace == object.namespace)
        };
        let top = (0..objects.len())
            .map(|index| {
                let mut current = index;
                for _ in 0..MAX_DEPTH {
                    match parent(current) {
                        Some(next) if next != index => current = next,
                        // A cycle: every object in it stands on its own.
                        Some(_) => return index,
                        None => break,
                    }
                }
                current
            })
            .collect();
        Self { top }
    }

    /// The top owner of the object at `index`.
    pub(crate) fn top(&self, index: usize) -> usize {
        self.top[index]
    }

    /// Whether the object at `index` is owned by another object of the dump.
    pub(crate) fn is_owned(&self, index: usize) -> bool {
        self.top[index] != index
    }

    /// For each top owner, how many objects of each kind it owns (through any depth).
    pub(crate) fn owned_counts(
        &self,
        objects: &[DumpObject<'_>],
    ) -> HashMap<usize, BTreeMap<String, usize>> {
        let mut counts: HashMap<usize, BTreeMap<String, usize>> = HashMap::new();
        for (index, &top) in self.top.iter().enumerate() {
            if top != index {
                *counts
                    .entry(top)
                    .or_default()
                    .entry(objects[index].kind.clone())
                    .or_default() += 1;
            }
        }
        counts
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::super::dump::Dump;
    use super::*;

    #[test]
    fn pods_and_replicasets_go_to_their_deployment_and_jobs_to_their_cronjob() {
        let text = r#"
{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "a", "uid": "d1"}}
{"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web-1", "namespace": "a", "uid": "r1",
  "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": "d1", "controller": true}]}}
{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1-x", "namespace": "a", "uid": "p1",
  "ownerReferences": [{"kind": "ReplicaSet", "name": "web-1", "uid": "r1", "controller": true}]}, "spec": {}}
{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1-y", "namespace": "a", "uid": "p2",
  "ownerReferences": [{"kind": "ReplicaSet", "name": "web-1", "uid": "r1", "controller": true}]}, "spec": {}}
{"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly", "namespace": "a"}}
{"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "nightly-1", "namespace": "a",
  "ownerReferences": [{"kind": "CronJob", "name": "nightly"}]}}
{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nightly-1-z", "namespace": "a",
  "ownerReferences": [{"kind": "Job", "name": "nightly-1"}]}, "spec": {}}
{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "mirror", "namespace": "a",
  "ownerReferences": [{"kind": "Node", "name": "node-1", "uid": "n1", "controller": true}]}, "spec": {}}
{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "elsewhere", "namespace": "b",
  "ownerReferences": [{"kind": "ReplicaSet", "name": "web-1", "uid": "r1", "controller": true}]}, "spec": {}}
{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "loop-a", "namespace": "c",
  "ownerReferences": [{"kind": "Pod", "name": "loop-b"}]}, "spec": {}}
{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "loop-b", "namespace": "c",
  "ownerReferences": [{"kind": "Pod", "name": "loop-a"}]}, "spec": {}}
"#;
        let dump = Dump::read(text);
        assert!(dump.skipped.is_empty(), "{:?}", dump.skipped);
        let ownership = Ownership::of(&dump.objects);
        let tops: Vec<String> = (0..dump.objects.len())
            .map(|i| dump.objects[ownership.top(i)].reference())
            .collect();
        assert_eq!(
            tops,
            [
                "Deployment/web",
                "Deployment/web",
                "Deployment/web",
                "Deployment/web",
                "CronJob/nightly",
                "CronJob/nightly",
                "CronJob/nightly",
                // Its Node is not in the dump; an owner in another namespace is no owner.
                "Pod/mirror",
                "Pod/elsewhere",
                // In a cycle, each stands on its own.
                "Pod/loop-a",
                "Pod/loop-b",
            ]
        );
        let counts = ownership.owned_counts(&dump.objects);
        assert_eq!(
            counts[&0],
            BTreeMap::from([("Pod".to_owned(), 2), ("ReplicaSet".to_owned(), 1)])
        );
        assert_eq!(
            counts[&4],
            BTreeMap::from([("Job".to_owned(), 1), ("Pod".to_owned(), 1)])
        );
        assert!(!counts.contains_key(&7));
    }
}
