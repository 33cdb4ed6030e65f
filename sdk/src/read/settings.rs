//! Reads [`SettingsDoc`] from JSON text with the strict reader of `crate::json`, naming the field of every
//! error (`rules[0].maxPriority: ...`).
//!
//! policy.wasm reads its settings this way rather than with serde: a reader that tracks where it is costs a
//! fraction of the code of serde's derived deserializers wrapped for path tracking, and a fresh instance reads
//! its settings on its first request. Unknown and repeated keys are refused.

use std::collections::BTreeMap;

use crate::json::Reader;
use crate::model::custom::CustomWorkloadDoc;
use crate::model::selector::{LabelSelectorDoc, RequirementDoc};
use crate::model::settings::{PriorityClassesDoc, RuleDoc, SettingsDoc, SettingsError};

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
    object(r, &Path::Root, SETTINGS, &mut doc, read_settings_field)?;
    Ok(doc)
}

/// Declares a wire type once: `$names`, the names of its fields, and `$read`, which reads the value of the field
/// with a given name into the document. These declarations are the settings schema: the reader matches keys
/// against them, and [`wire_fields`] lists them. The reader dispatches with a `match`, not through function
/// pointers, whose first call on each fresh policy.wasm instance costs the host a table entry's initialisation.
macro_rules! wire_type {
    ($names:ident, $read:ident, $doc:ty {
        $($name:literal => |$r:ident, $path:ident, $d:ident| $body:expr),* $(,)?
    }) => {
        const $names: &[&str] = &[$($name),*];

        fn $read(r: &mut Reader<'_>, path: &Path<'_>, doc: &mut $doc, name: &str) -> Result<()> {
            match name {
                $($name => {
                    let ($r, $path, $d) = (r, path, doc);
                    $body;
                })*
                _ => {}
            }
            Ok(())
        }
    };
}

/// The settings schema, one declaration per wire type: each type's name (as the settings reference documents
/// it) and the names of its fields, in the order the reader knows them.
pub fn wire_fields() -> [(&'static str, &'static [&'static str]); 6] {
    [
        ("settings", SETTINGS),
        ("rule", RULE),
        ("labelSelector", SELECTOR),
        ("labelSelectorRequirement", REQUIREMENT),
        ("customWorkload", CUSTOM_WORKLOAD),
        ("priorityClasses", PRIORITY_CLASSES),
    ]
}

wire_type!(SETTINGS, read_settings_field, SettingsDoc {
    "rules" => |r, path, doc| doc.rules = list(r, path, rule)?,
    "fallback" => |r, path, doc| doc.fallback = optional(r, path, rule)?,
    "unsetPriorityClasses" => |r, path, doc| doc.unset_priority_classes = strings(r, path)?,
    "mutateWorkloadTemplates" => |r, path, doc| doc.mutate_workload_templates = boolean(r, path)?,
    "customWorkloads" => |r, path, doc| doc.custom_workloads = list(r, path, custom_workload)?,
    "priorityClasses" => |r, path, doc| doc.priority_classes = optional(r, path, priority_classes)?,
});

wire_type!(RULE, read_rule_field, RuleDoc {
    "name" => |r, path, doc| doc.name = optional(r, path, string)?,
    "namespaces" => |r, path, doc| doc.namespaces = optional(r, path, strings)?,
    "namespaceSelector" => |r, path, doc| doc.namespace_selector = optional(r, path, selector)?,
    "allowedPriorityClasses" => |r, path, doc| doc.allowed_priority_classes = optional(r, path, strings)?,
    "deniedPriorityClasses" => |r, path, doc| doc.denied_priority_classes = optional(r, path, strings)?,
    "defaultPriorityClass" => |r, path, doc| doc.default_priority_class = optional(r, path, string)?,
    "requirePriorityClass" => |r, path, doc| doc.require_priority_class = boolean(r, path)?,
    "maxPriority" => |r, path, doc| doc.max_priority = optional(r, path, integer)?,
    "minPriority" => |r, path, doc| doc.min_priority = optional(r, path, integer)?,
    "allowedPreemptionPolicies" => |r, path, doc| doc.allowed_preemption_policies = optional(r, path, strings)?,
    "action" => |r, path, doc| doc.action = optional(r, path, string)?,
});

fn rule(r: &mut Reader<'_>, path: &Path<'_>) -> Result<RuleDoc> {
    let mut doc = RuleDoc::default();
    object(r, path, RULE, &mut doc, read_rule_field)?;
    Ok(doc)
}

wire_type!(SELECTOR, read_selector_field, LabelSelectorDoc {
    "matchLabels" => |r, path, doc| doc.match_labels = optional(r, path, string_map)?,
    "matchExpressions" => |r, path, doc| doc.match_expressions = optional(r, path, |r, path| list(r, path, requirement))?,
});

fn selector(r: &mut Reader<'_>, path: &Path<'_>) -> Result<LabelSelectorDoc> {
    let mut doc = LabelSelectorDoc::default();
    object(r, path, SELECTOR, &mut doc, read_selector_field)?;
    Ok(doc)
}

/// A `matchExpressions` entry as read, before its required fields are known to be there.
#[derive(Default)]
struct RequirementRead {
    key: Option<String>,
    operator: Option<String>,
    values: Option<Vec<String>>,
}

wire_type!(REQUIREMENT, read_requirement_field, RequirementRead {
    "key" => |r, path, doc| doc.key = Some(string(r, path)?),
    "operator" => |r, path, doc| doc.operator = Some(string(r, path)?),
    "values" => |r, path, doc| doc.values = optional(r, path, strings)?,
});

fn requirement(r: &mut Reader<'_>, path: &Path<'_>) -> Result<RequirementDoc> {
    let mut read = RequirementRead::default();
    object(r, path, REQUIREMENT, &mut read, read_requirement_field)?;
    Ok(RequirementDoc {
        key: required(read.key, path, "key")?,
        operator: required(read.operator, path, "operator")?,
        values: read.values,
    })
}

/// A `customWorkloads` entry as read, before its required fields are known to be there.
#[derive(Default)]
struct CustomWorkloadRead {
    api_group: Option<String>,
    api_version: Option<String>,
    kind: Option<String>,
    resource: Option<String>,
    pod_spec_path: Option<String>,
}

wire_type!(CUSTOM_WORKLOAD, read_custom_workload_field, CustomWorkloadRead {
    "apiGroup" => |r, path, doc| doc.api_group = Some(string(r, path)?),
    "apiVersion" => |r, path, doc| doc.api_version = Some(string(r, path)?),
    "kind" => |r, path, doc| doc.kind = Some(string(r, path)?),
    "resource" => |r, path, doc| doc.resource = Some(string(r, path)?),
    "podSpecPath" => |r, path, doc| doc.pod_spec_path = Some(string(r, path)?),
});

fn custom_workload(r: &mut Reader<'_>, path: &Path<'_>) -> Result<CustomWorkloadDoc> {
    let mut read = CustomWorkloadRead::default();
    object(
        r,
        path,
        CUSTOM_WORKLOAD,
        &mut read,
        read_custom_workload_field,
    )?;
    Ok(CustomWorkloadDoc {
        api_group: required(read.api_group, path, "apiGroup")?,
        api_version: required(read.api_version, path, "apiVersion")?,
        kind: required(read.kind, path, "kind")?,
        resource: required(read.resource, path, "resource")?,
        pod_spec_path: required(read.pod_spec_path, path, "podSpecPath")?,
    })
}

wire_type!(PRIORITY_CLASSES, read_priority_classes_field, PriorityClassesDoc {
    "maxValue" => |r, path, doc| doc.max_value = optional(r, path, integer)?,
    "allowGlobalDefault" => |r, path, doc| doc.allow_global_default = optional(r, path, boolean)?,
    "requireDescription" => |r, path, doc| doc.require_description = boolean(r, path)?,
    "requireNonPreemptingBelow" => |r, path, doc| doc.require_non_preempting_below = optional(r, path, integer)?,
    "action" => |r, path, doc| doc.action = optional(r, path, string)?,
});

fn priority_classes(r: &mut Reader<'_>, path: &Path<'_>) -> Result<PriorityClassesDoc> {
    let mut doc = PriorityClassesDoc::default();
    object(
        r,
        path,
        PRIORITY_CLASSES,
        &mut doc,
        read_priority_classes_field,
    )?;
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

/// Reads an object whose keys are `fields` into `doc`, each value with `read` (a `wire_type!` reader), at its
/// path.
fn object<D>(
    r: &mut Reader<'_>,
    path: &Path<'_>,
    fields: &[&str],
    doc: &mut D,
    read: impl Fn(&mut Reader<'_>, &Path<'_>, &mut D, &str) -> Result<()>,
) -> Result<()> {
    r.begin_object("an object").map_err(|e| at(path, e))?;
    let mut seen = 0u32;
    let mut first = true;
    while let Some(key) = r.next_key(&mut first).map_err(|e| at(path, e))? {
        let child = Path::Key(path, &key);
        let Some(index) = fields.iter().position(|f| *f == key) else {
            let expected: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
            return Err(at(
                &child,
                format!(
                    "unknown field `{key}`, expected one of {}",
                    expected.join(", ")
                ),
            ));
        };
        if seen & 1 << index != 0 {
            return Err(at(&child, format!("duplicate field `{key}`")));
        }
        seen |= 1 << index;
        read(r, &child, doc, fields[index])?;
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
