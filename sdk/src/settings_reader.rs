//! Reads [`SettingsDoc`] from JSON text with the strict reader of [`crate::json`], naming the field of every
//! error (`rules[0].maxPriority: ...`).
//!
//! policy.wasm reads its settings this way rather than with serde: a reader that tracks where it is costs a
//! fraction of the code of serde's derived deserializers wrapped for path tracking, and a fresh instance reads
//! its settings on its first request. Unknown and repeated keys are refused.

use std::collections::BTreeMap;

use crate::custom::CustomWorkloadDoc;
use crate::json::Reader;
use crate::selector::{LabelSelectorDoc, RequirementDoc};
use crate::settings::{PriorityClassesDoc, RuleDoc, SettingsDoc, SettingsError};

type Result<T> = std::result::Result<T, SettingsError>;

/// Reads settings text; `null` stands for `{}`.
pub(crate) fn read(text: &str) -> Result<SettingsDoc> {
    // Syntax first, for the whole text: what follows can then only be about fields.
    let mut check = Reader::new(text);
    check
        .skip()
        .and_then(|_| check.end())
        .map_err(|e| SettingsError::one("settings", format!("not valid JSON: {e}")))?;
    read_checked(text)
}

/// [`read`] for text already checked to be JSON.
pub(crate) fn read_checked(text: &str) -> Result<SettingsDoc> {
    read_value(&mut Reader::new(text))
}

/// Reads the settings value at the reader's position (a payload's `settings`). A syntax error is reported as
/// an error of the field where it is: a caller that must tell syntax errors apart checks the text again.
pub(crate) fn read_value(r: &mut Reader<'_>) -> Result<SettingsDoc> {
    if r.null().map_err(|e| at(&Path::Root, e))? {
        return Ok(SettingsDoc::default());
    }
    let mut doc = SettingsDoc::default();
    object(r, &Path::Root, SETTINGS, |r, field, path| {
        match field {
            0 => doc.rules = list(r, path, rule)?,
            1 => doc.fallback = optional(r, path, rule)?,
            2 => doc.unset_priority_classes = strings(r, path)?,
            3 => doc.mutate_workload_templates = boolean(r, path)?,
            4 => doc.custom_workloads = list(r, path, custom_workload)?,
            _ => doc.priority_classes = optional(r, path, priority_classes)?,
        }
        Ok(())
    })?;
    Ok(doc)
}

const SETTINGS: &[&str] = &[
    "rules",
    "fallback",
    "unsetPriorityClasses",
    "mutateWorkloadTemplates",
    "customWorkloads",
    "priorityClasses",
];

const RULE: &[&str] = &[
    "name",
    "namespaces",
    "namespaceSelector",
    "allowedPriorityClasses",
    "deniedPriorityClasses",
    "defaultPriorityClass",
    "requirePriorityClass",
    "maxPriority",
    "allowedPreemptionPolicies",
];

fn rule(r: &mut Reader<'_>, path: &Path<'_>) -> Result<RuleDoc> {
    let mut doc = RuleDoc::default();
    object(r, path, RULE, |r, field, path| {
        match field {
            0 => doc.name = optional(r, path, string)?,
            1 => doc.namespaces = optional(r, path, strings)?,
            2 => doc.namespace_selector = optional(r, path, selector)?,
            3 => doc.allowed_priority_classes = optional(r, path, strings)?,
            4 => doc.denied_priority_classes = optional(r, path, strings)?,
            5 => doc.default_priority_class = optional(r, path, string)?,
            6 => doc.require_priority_class = boolean(r, path)?,
            7 => doc.max_priority = optional(r, path, integer)?,
            _ => doc.allowed_preemption_policies = optional(r, path, strings)?,
        }
        Ok(())
    })?;
    Ok(doc)
}

fn selector(r: &mut Reader<'_>, path: &Path<'_>) -> Result<LabelSelectorDoc> {
    let mut doc = LabelSelectorDoc::default();
    object(
        r,
        path,
        &["matchLabels", "matchExpressions"],
        |r, field, path| {
            match field {
                0 => doc.match_labels = optional(r, path, string_map)?,
                _ => {
                    doc.match_expressions = optional(r, path, |r, path| list(r, path, requirement))?
                }
            }
            Ok(())
        },
    )?;
    Ok(doc)
}

fn requirement(r: &mut Reader<'_>, path: &Path<'_>) -> Result<RequirementDoc> {
    let (mut key, mut operator, mut values) = (None, None, None);
    object(r, path, &["key", "operator", "values"], |r, field, path| {
        match field {
            0 => key = Some(string(r, path)?),
            1 => operator = Some(string(r, path)?),
            _ => values = optional(r, path, strings)?,
        }
        Ok(())
    })?;
    Ok(RequirementDoc {
        key: required(key, path, "key")?,
        operator: required(operator, path, "operator")?,
        values,
    })
}

fn custom_workload(r: &mut Reader<'_>, path: &Path<'_>) -> Result<CustomWorkloadDoc> {
    const FIELDS: &[&str] = &["apiGroup", "apiVersion", "kind", "resource", "podSpecPath"];
    let mut found: [Option<String>; 5] = Default::default();
    object(r, path, FIELDS, |r, field, path| {
        if let Some(slot) = found.get_mut(field) {
            *slot = Some(string(r, path)?);
        }
        Ok(())
    })?;
    let [api_group, api_version, kind, resource, pod_spec_path] = found;
    Ok(CustomWorkloadDoc {
        api_group: required(api_group, path, FIELDS[0])?,
        api_version: required(api_version, path, FIELDS[1])?,
        kind: required(kind, path, FIELDS[2])?,
        resource: required(resource, path, FIELDS[3])?,
        pod_spec_path: required(pod_spec_path, path, FIELDS[4])?,
    })
}

fn priority_classes(r: &mut Reader<'_>, path: &Path<'_>) -> Result<PriorityClassesDoc> {
    const FIELDS: &[&str] = &[
        "maxValue",
        "allowGlobalDefault",
        "requireDescription",
        "requireNonPreemptingBelow",
    ];
    let mut doc = PriorityClassesDoc::default();
    object(r, path, FIELDS, |r, field, path| {
        match field {
            0 => doc.max_value = optional(r, path, integer)?,
            1 => doc.allow_global_default = optional(r, path, boolean)?,
            2 => doc.require_description = boolean(r, path)?,
            _ => doc.require_non_preempting_below = optional(r, path, integer)?,
        }
        Ok(())
    })?;
    Ok(doc)
}

/// Where a value is in the settings (`rules[0].maxPriority`), written out only for an error: a fresh instance
/// reads its settings on its first request, and formatting a path for every key cost a third of the read.
#[derive(Clone, Copy)]
enum Path<'p> {
    Root,
    Key(&'p Path<'p>, &'p str),
    Index(&'p Path<'p>, usize),
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Key(Path::Root, key) => f.write_str(key),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

/// The error at `path` (the root is `settings`).
fn at(path: &Path<'_>, message: String) -> SettingsError {
    // An empty key at the root writes an empty path: that error is about the settings as a whole, too.
    let field = path.to_string();
    SettingsError::one(
        if field.is_empty() {
            "settings".to_owned()
        } else {
            field
        },
        message,
    )
}

fn required<T>(value: Option<T>, path: &Path<'_>, field: &str) -> Result<T> {
    value.ok_or_else(|| at(path, format!("missing field `{field}`")))
}

/// Reads an object whose keys are `fields`: `each` reads the value of the field with that index, at its path.
fn object<'a>(
    r: &mut Reader<'a>,
    path: &Path<'_>,
    fields: &[&str],
    mut each: impl FnMut(&mut Reader<'a>, usize, &Path<'_>) -> Result<()>,
) -> Result<()> {
    r.begin_object("an object").map_err(|e| at(path, e))?;
    let mut seen = 0u32;
    let mut first = true;
    while let Some(key) = r.next_key(&mut first).map_err(|e| at(path, e))? {
        let child = Path::Key(path, &key);
        let Some(field) = fields.iter().position(|f| *f == key) else {
            let expected: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
            return Err(at(
                &child,
                format!(
                    "unknown field `{key}`, expected one of {}",
                    expected.join(", ")
                ),
            ));
        };
        if seen & 1 << field != 0 {
            return Err(at(&child, format!("duplicate field `{key}`")));
        }
        seen |= 1 << field;
        each(r, field, &child)?;
    }
    Ok(())
}

/// Reads `null` as `None`, anything else with `read`.
fn optional<'a, T>(
    r: &mut Reader<'a>,
    path: &Path<'_>,
    read: impl FnOnce(&mut Reader<'a>, &Path<'_>) -> Result<T>,
) -> Result<Option<T>> {
    if r.null().map_err(|e| at(path, e))? {
        Ok(None)
    } else {
        read(r, path).map(Some)
    }
}

fn list<'a, T>(
    r: &mut Reader<'a>,
    path: &Path<'_>,
    mut read: impl FnMut(&mut Reader<'a>, &Path<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    r.begin_array("a list").map_err(|e| at(path, e))?;
    let mut items = Vec::new();
    let mut first = true;
    while r.next_element(&mut first).map_err(|e| at(path, e))? {
        items.push(read(r, &Path::Index(path, items.len()))?);
    }
    Ok(items)
}

fn string(r: &mut Reader<'_>, path: &Path<'_>) -> Result<String> {
    r.string("a string")
        .map(|s| s.into_owned())
        .map_err(|e| at(path, e))
}

fn strings(r: &mut Reader<'_>, path: &Path<'_>) -> Result<Vec<String>> {
    list(r, path, string)
}

fn boolean(r: &mut Reader<'_>, path: &Path<'_>) -> Result<bool> {
    r.bool("a boolean").map_err(|e| at(path, e))
}

fn integer(r: &mut Reader<'_>, path: &Path<'_>) -> Result<i64> {
    r.integer("an integer").map_err(|e| at(path, e))
}

fn string_map(r: &mut Reader<'_>, path: &Path<'_>) -> Result<BTreeMap<String, String>> {
    r.begin_object("a map of strings")
        .map_err(|e| at(path, e))?;
    let mut map = BTreeMap::new();
    let mut first = true;
    while let Some(key) = r.next_key(&mut first).map_err(|e| at(path, e))? {
        let value = string(r, &Path::Key(path, &key))?;
        if map.contains_key(key.as_ref()) {
            return Err(at(&Path::Key(path, &key), "duplicate key".to_owned()));
        }
        map.insert(key.into_owned(), value);
    }
    Ok(map)
}
