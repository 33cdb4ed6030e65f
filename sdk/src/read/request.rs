//! A borrowed view of an admission request: only the fields the decision reads, read in one pass over the text
//! without copying it (see `crate::json`), and the pod specs found at a kind's path.
//!
//! When the request names a built-in kind before its object (the apiserver writes `kind` first), the object's
//! metadata and pod specs are read in the same pass; otherwise, or when that reading fails, they are read from
//! the object's text when the decision asks, in the order it asks, so that errors come out the same either way.

use std::borrow::Cow;

use crate::json::{Kind, Reader, invalid_type};
use crate::model::kinds::{self, Segment};
use crate::model::settings::{SettingsDoc, SettingsError};

/// A request that cannot be read; the policy rejects it with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The request is not the JSON of an AdmissionRequest.
    #[error("the admission request is malformed at {path}: {message}")]
    Malformed {
        /// Where, e.g. `object.spec.priorityClassName`.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The request lacks something the decision needs.
    #[error("the admission request has no {0}")]
    Missing(&'static str),
}

fn malformed(path: &str, message: String) -> RequestError {
    RequestError::Malformed {
        path: path.to_owned(),
        message,
    }
}

/// Marks a field as seen: `false` when it already was (a duplicate).
fn first_time(seen: &mut u8, bit: u8) -> bool {
    let first = *seen & bit == 0;
    *seen |= bit;
    first
}

/// Where the request's own fields are, in messages.
const ROOT: &str = "its root";

/// `request.kind`: group, version and kind.
#[derive(Debug, Clone, Default)]
pub struct GroupVersionKind<'a> {
    /// The API group, `""` for core.
    pub group: Cow<'a, str>,
    /// The API version.
    pub version: Cow<'a, str>,
    /// The kind.
    pub kind: Cow<'a, str>,
}

/// The fields of an AdmissionRequest that the decision reads.
#[derive(Debug, Clone)]
pub struct AdmissionRequestView<'a> {
    /// The request's uid, echoed in the response.
    pub uid: Cow<'a, str>,
    /// The kind of the object.
    pub kind: GroupVersionKind<'a>,
    /// The subresource, if the request is for one (`status`, `scale`, ...).
    pub sub_resource: Option<Cow<'a, str>>,
    /// `CREATE`, `UPDATE`, `DELETE` or `CONNECT`.
    pub operation: Cow<'a, str>,
    /// The namespace of the object.
    pub namespace: Option<Cow<'a, str>>,
    /// The name of the object, when known.
    pub name: Option<Cow<'a, str>>,
    /// The object's JSON text (checked to be JSON); `None` when absent or null.
    pub object: Option<&'a str>,
    /// The object's metadata and pod specs, when read in the same pass as the request.
    read_along: Option<ObjectRead<'a>>,
    /// The object's nesting depth and whether it may hold a number beyond a double, from the request's pass.
    object_marks: Option<(usize, bool)>,
}

/// What was read of the object in the request's pass.
#[derive(Debug, Clone)]
struct ObjectRead<'a> {
    meta: ObjectMeta<'a>,
    path: &'static [Segment],
    specs: Vec<FoundPodSpec<'a>>,
}

/// A Kubewarden validation payload, `{"request": <AdmissionRequest>, "settings": <settings>}`, read in one pass.
#[derive(Debug, Clone)]
pub struct Payload<'a> {
    /// The request, or why it cannot be read (reported after the settings, which are checked first).
    pub request: Result<AdmissionRequestView<'a>, RequestError>,
    /// The settings.
    pub settings: PayloadSettings<'a>,
}

/// The settings of a [`Payload`].
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per payload, moved into Settings: a box would be one more allocation on a fresh instance"
)]
pub enum PayloadSettings<'a> {
    /// Absent or `null`.
    Absent,
    /// The `known_settings` given to `Payload::from_json_knowing`: their text, not read again.
    Known(&'a str),
    /// Other settings: their text, and what they read as, in the payload's pass (the text is valid JSON; the
    /// fields are not validated yet).
    Read {
        /// The settings' JSON text.
        text: &'a str,
        /// The settings as written, or the first field that cannot be read.
        doc: Result<SettingsDoc, SettingsError>,
    },
}

impl PayloadSettings<'_> {
    /// The settings' JSON text; `None` when absent or null.
    pub fn text(&self) -> Option<&str> {
        match self {
            PayloadSettings::Absent => None,
            PayloadSettings::Known(text) | PayloadSettings::Read { text, .. } => Some(text),
        }
    }
}

/// Text that is not a Kubewarden validation payload at all: not JSON, not an object, or no `request`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotAPayload(String);

impl<'a> Payload<'a> {
    /// Reads a payload. A request or settings that cannot be read are kept in the payload, to be reported in
    /// their turn; the error is for text that is not a validation payload at all.
    pub fn from_json(text: &'a str) -> Result<Self, NotAPayload> {
        Self::from_json_knowing(text, None).map_err(NotAPayload)
    }

    /// [`Payload::from_json`], for a reader that already has `known_settings`, the settings text of an earlier
    /// payload that was read and validated: settings with the same text are not checked again (policy-server
    /// sends the same settings with every request).
    pub(crate) fn from_json_knowing(
        text: &'a str,
        known_settings: Option<&str>,
    ) -> Result<Self, String> {
        let mut r = Reader::new(text);
        r.begin_object("a validation request object")?;
        let (mut request, mut settings) = (None, None);
        let mut first = true;
        while let Some(key) = r.next_key(&mut first)? {
            match &*key {
                "request" if request.is_some() => return Err("duplicate field `request`".into()),
                "settings" if settings.is_some() => {
                    return Err("duplicate field `settings`".into());
                }
                "request" => {
                    let before = r.clone();
                    let read = AdmissionRequestView::read(&mut r);
                    if read.is_err() {
                        // Reported later; the rest of the payload is still read (and a syntax error in the
                        // request is one of the payload).
                        r = before;
                        r.skip_over()?;
                    }
                    request = Some(read);
                }
                "settings" => {
                    settings = Some(match known_settings.and_then(|known| r.skip_known(known)) {
                        Some(text) => PayloadSettings::Known(text),
                        None => read_settings(&mut r)?,
                    });
                }
                _ => {
                    r.skip_over()?;
                }
            }
        }
        r.end()?;
        Ok(Payload {
            request: request.ok_or("missing field `request`")?,
            settings: settings.unwrap_or(PayloadSettings::Absent),
        })
    }
}

/// Reads the settings at the reader's position in the payload's pass: read straight into their document, rather
/// than checked as JSON there and read again afterwards. The error is about the payload's JSON.
fn read_settings<'a>(r: &mut Reader<'a>) -> Result<PayloadSettings<'a>, String> {
    let start = r.start();
    if r.null()? {
        return Ok(PayloadSettings::Absent);
    }
    let before = r.clone();
    let doc = crate::read::settings::read_value(r);
    if doc.is_err() {
        // A field that cannot be read is reported after the rest of the payload's JSON is checked, as the
        // settings are reported after the request's JSON: read them again, as JSON only.
        *r = before;
        r.skip()?;
    }
    Ok(PayloadSettings::Read {
        text: r.since(start),
        doc,
    })
}

/// The uid of the requests that stand for manifests ([`AdmissionRequestView::create`]).
pub const MANIFEST_REQUEST_UID: &str = "priority-guard-check";

impl<'a> AdmissionRequestView<'a> {
    /// The request of a `kubectl create` of `object` (JSON text, checked to be JSON by the caller) of `kind` in
    /// `namespace`, as the apiserver would send it to the policy: how manifests are decided outside the cluster.
    pub fn create(
        kind: GroupVersionKind<'a>,
        namespace: &'a str,
        name: Option<&'a str>,
        object: &'a str,
    ) -> Self {
        AdmissionRequestView {
            uid: Cow::Borrowed(MANIFEST_REQUEST_UID),
            kind,
            sub_resource: None,
            operation: Cow::Borrowed("CREATE"),
            namespace: Some(Cow::Borrowed(namespace)),
            name: name.map(Cow::Borrowed),
            object: Some(object),
            read_along: None,
            object_marks: None,
        }
    }

    /// Reads the fields the decision needs from the JSON of an AdmissionRequest.
    pub fn from_json(json: &'a str) -> Result<Self, RequestError> {
        let mut r = Reader::new(json);
        let view = Self::read(&mut r);
        if view.is_err() {
            // A syntax error anywhere in the text comes first, as it would for any JSON reader.
            r = Reader::new(json);
            r.skip_over().map_err(|m| malformed(ROOT, m))?;
        }
        let view = view?;
        r.end().map_err(|m| malformed("its end", m))?;
        Ok(view)
    }

    /// Reads a request at the reader's position.
    fn read(r: &mut Reader<'a>) -> Result<Self, RequestError> {
        r.begin_object("an admission request object")
            .map_err(|m| malformed(ROOT, m))?;
        let mut kind = None;
        let mut operation = None;
        let mut view = AdmissionRequestView {
            uid: Cow::Borrowed(""),
            kind: GroupVersionKind::default(),
            sub_resource: None,
            operation: Cow::Borrowed(""),
            namespace: None,
            name: None,
            object: None,
            read_along: None,
            object_marks: None,
        };
        let mut seen = 0u8;
        let mut first = true;
        while let Some(key) = r.next_key(&mut first).map_err(|m| malformed(ROOT, m))? {
            let field = match &*key {
                "uid" => 0,
                "kind" => 1,
                "subResource" => 2,
                "operation" => 3,
                "namespace" => 4,
                "name" => 5,
                "object" => 6,
                _ => {
                    r.skip_over().map_err(|m| malformed(&key, m))?;
                    continue;
                }
            };
            if !first_time(&mut seen, 1 << field) {
                return Err(malformed(ROOT, format!("duplicate field `{key}`")));
            }
            let string = |r: &mut Reader<'a>| r.string("a string").map_err(|m| malformed(&key, m));
            let optional = |r: &mut Reader<'a>| {
                r.optional_string("a string")
                    .map_err(|m| malformed(&key, m))
            };
            match field {
                0 => view.uid = string(r)?,
                1 => kind = Some(read_kind(r)?),
                2 => view.sub_resource = optional(r)?,
                3 => operation = Some(string(r)?),
                4 => view.namespace = optional(r)?,
                5 => view.name = optional(r)?,
                _ => {
                    if r.null().map_err(|m| malformed("object", m))? {
                        view.object = None;
                        view.read_along = None;
                        view.object_marks = None;
                        continue;
                    }
                    let start = r.start();
                    let base = r.depth();
                    r.mark();
                    let builtin = kind
                        .as_ref()
                        .and_then(|k: &GroupVersionKind<'_>| kinds::lookup(&k.group, &k.kind));
                    if let Some(builtin) = builtin {
                        let mut along = r.clone();
                        let mut meta = ObjectMeta::default();
                        let mut specs = Vec::new();
                        if walk(
                            &mut along,
                            Some(builtin.pod_spec_path),
                            Some(&mut meta),
                            &mut specs,
                        )
                        .is_ok()
                        {
                            *r = along;
                            view.object = Some(r.since(start));
                            view.object_marks = Some(r.marks(base));
                            // Layouts relative to the object's text, not the payload's.
                            for found in &mut specs {
                                found.layout = found.layout.take().map(|l| l.shifted_back(start));
                            }
                            view.read_along = Some(ObjectRead {
                                meta,
                                path: builtin.pod_spec_path,
                                specs,
                            });
                            continue;
                        }
                    }
                    view.object = Some(r.skip().map_err(|m| malformed("object", m))?);
                    view.object_marks = Some(r.marks(base));
                    view.read_along = None;
                }
            }
        }
        view.kind = kind.ok_or_else(|| malformed(ROOT, "missing field `kind`".into()))?;
        view.operation =
            operation.ok_or_else(|| malformed(ROOT, "missing field `operation`".into()))?;
        // The object was read along for the kind named before it; a later `kind` field cannot have changed
        // it (a duplicate is refused above).
        Ok(view)
    }

    /// Whether the object is known to be within what hosts reading responses with serde_json take back (at most
    /// [`crate::json::MAX_OBJECT_DEPTH`] levels, numbers within a double), so that a mutated object made from
    /// its text needs no check (see [`crate::output::mutation::readable_by_hosts`]). `false` when not known.
    pub(crate) fn object_fits_responses(&self) -> bool {
        matches!(self.object_marks, Some((depth, false)) if depth <= crate::json::MAX_OBJECT_DEPTH)
    }

    /// The pod specs read along with the request (empty when the object was not read in the request's pass).
    pub(crate) fn pod_specs_read_along(&self) -> &[FoundPodSpec<'a>] {
        self.read_along.as_ref().map_or(&[], |read| &read.specs)
    }

    /// The object's metadata fields the decision reads.
    pub fn object_meta(&self) -> Result<ObjectMeta<'a>, RequestError> {
        let object = self.object.ok_or(RequestError::Missing("object"))?;
        if let Some(read) = &self.read_along {
            return Ok(read.meta.clone());
        }
        let mut meta = ObjectMeta::default();
        walk(
            &mut Reader::new(object),
            None,
            Some(&mut meta),
            &mut Vec::new(),
        )?;
        Ok(meta)
    }

    /// The pod specs at `path` in the object (see [`pod_specs`]): borrowed when read along with the request.
    pub fn pod_specs(
        &self,
        path: &'static [Segment],
    ) -> Result<Cow<'_, [FoundPodSpec<'a>]>, RequestError> {
        let object = self.object.ok_or(RequestError::Missing("object"))?;
        match &self.read_along {
            Some(read) if std::ptr::eq(read.path, path) => Ok(Cow::Borrowed(&read.specs)),
            _ => pod_specs(object, path).map(Cow::Owned),
        }
    }
}

/// Reads `request.kind`: an object with `kind` and optional `group` and `version`.
fn read_kind<'a>(r: &mut Reader<'a>) -> Result<GroupVersionKind<'a>, RequestError> {
    let mut gvk = GroupVersionKind::default();
    let names = ["group", "version", "kind"];
    let expected = "an object with group, version and kind";
    let seen = read_fields(r, "kind", expected, &names, |r, field, member| {
        let value = r.string("a string").map_err(|m| member.error(m))?;
        *[&mut gvk.group, &mut gvk.version, &mut gvk.kind][field] = value;
        Ok(())
    })?;
    if seen & 4 == 0 {
        return Err(malformed("kind", "missing field `kind`".into()));
    }
    Ok(gvk)
}

/// A member of an object being read, for errors: its path is written only when an error is made.
pub(crate) struct Member<'p> {
    parent: &'p str,
    key: &'p str,
}

impl Member<'_> {
    /// `parent.key`.
    pub(crate) fn path(&self) -> String {
        format!("{}.{}", self.parent, self.key)
    }

    /// The request error at this member.
    pub(crate) fn error(&self, message: String) -> RequestError {
        malformed(&self.path(), message)
    }
}

/// Reads an object at `at` (its `{` too; anything else is a type error naming `expected`): `read` reads the value
/// of the member named `names[i]`, given `i`; other members are skipped; a name read twice is malformed. Returns
/// a bit per name read.
pub(crate) fn read_fields<'a>(
    r: &mut Reader<'a>,
    at: &str,
    expected: &str,
    names: &[&str],
    mut read: impl FnMut(&mut Reader<'a>, usize, &Member<'_>) -> Result<(), RequestError>,
) -> Result<u32, RequestError> {
    r.begin_object(expected).map_err(|m| malformed(at, m))?;
    let mut seen = 0u32;
    let mut first = true;
    while let Some(key) = r.next_key(&mut first).map_err(|m| malformed(at, m))? {
        let member = Member {
            parent: at,
            key: &key,
        };
        let Some(field) = names.iter().position(|name| *name == key) else {
            r.skip_over().map_err(|m| member.error(m))?;
            continue;
        };
        if seen & 1 << field != 0 {
            return Err(malformed(at, format!("duplicate field `{key}`")));
        }
        seen |= 1 << field;
        read(r, field, &member)?;
    }
    Ok(seen)
}

/// The `metadata.labels` of an object's JSON text (a Namespace, as a host returns it): empty when absent or null.
/// `metadata` or `labels` given twice is malformed.
pub fn object_labels(
    object: &str,
) -> Result<std::collections::BTreeMap<String, String>, RequestError> {
    let mut labels = std::collections::BTreeMap::new();
    let r = &mut Reader::new(object);
    r.begin_object("an object")
        .map_err(|m| malformed(ROOT, m))?;
    let mut seen_metadata = false;
    let mut first = true;
    while let Some(key) = r.next_key(&mut first).map_err(|m| malformed(ROOT, m))? {
        if key != "metadata" {
            r.skip_over().map_err(|m| malformed(&key, m))?;
            continue;
        }
        if std::mem::replace(&mut seen_metadata, true) {
            return Err(malformed(ROOT, "duplicate field `metadata`".into()));
        }
        if r.null().map_err(|m| malformed("metadata", m))? {
            continue;
        }
        r.begin_object("an object")
            .map_err(|m| malformed("metadata", m))?;
        let mut seen_labels = false;
        let mut first = true;
        while let Some(key) = r
            .next_key(&mut first)
            .map_err(|m| malformed("metadata", m))?
        {
            if key != "labels" {
                r.skip()
                    .map_err(|m| malformed(&format!("metadata.{key}"), m))?;
                continue;
            }
            if std::mem::replace(&mut seen_labels, true) {
                return Err(malformed("metadata", "duplicate field `labels`".into()));
            }
            if r.null().map_err(|m| malformed("metadata.labels", m))? {
                continue;
            }
            r.begin_object("a map of strings")
                .map_err(|m| malformed("metadata.labels", m))?;
            let mut first = true;
            while let Some(label) = r
                .next_key(&mut first)
                .map_err(|m| malformed("metadata.labels", m))?
            {
                let at = || format!("metadata.labels.{label}");
                let value = r.string("a string").map_err(|m| malformed(&at(), m))?;
                if labels
                    .insert(label.to_string(), value.into_owned())
                    .is_some()
                {
                    return Err(malformed(&at(), "duplicate label".into()));
                }
            }
        }
    }
    r.end().map_err(|m| malformed("its end", m))?;
    Ok(labels)
}

/// `metadata` fields of the object.
#[derive(Debug, Clone, Default)]
pub struct ObjectMeta<'a> {
    /// The object's name.
    pub name: Option<Cow<'a, str>>,
    /// The prefix the apiserver will complete into a name.
    pub generate_name: Option<Cow<'a, str>>,
    /// The object's namespace.
    pub namespace: Option<Cow<'a, str>>,
}

impl ObjectMeta<'_> {
    /// The name shown in messages: the name, else the `generateName` prefix, else empty.
    pub fn display_name(&self) -> &str {
        match (self.name.as_deref(), self.generate_name.as_deref()) {
            (Some(name), _) if !name.is_empty() => name,
            (_, Some(prefix)) => prefix,
            _ => "",
        }
    }
}

/// The fields of a pod spec the decision reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodSpecView<'a> {
    /// `priorityClassName`; `None` when absent or null.
    pub priority_class_name: Option<Cow<'a, str>>,
    /// Whether `priority` is present (and not null).
    pub priority: bool,
    /// Whether `preemptionPolicy` is present (and not null).
    pub preemption_policy: bool,
}

/// A pod spec found in an object, with the JSON pointer it is at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundPodSpec<'a> {
    /// JSON pointer of the pod spec, e.g. `/spec/template/spec`.
    pub pointer: String,
    /// Its fields.
    pub spec: PodSpecView<'a>,
    /// Where it and its members are in the object's text, when known (a default is then written without
    /// reading the pod spec again, see `crate::output::mutation::apply_to_text_known`).
    pub layout: Option<SpecLayout>,
}

/// Where a pod spec object and its members are in the object's JSON text (byte offsets).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecLayout {
    /// Where the pod spec starts (its `{`).
    pub start: usize,
    /// Where it ends (after its `}`).
    pub end: usize,
    /// Each member, from the end of what precedes it (the `{`, or the previous member's value) to the end of
    /// its value.
    pub members: Vec<(usize, usize)>,
}

impl SpecLayout {
    fn shifted_back(mut self, offset: usize) -> Self {
        self.start -= offset;
        self.end -= offset;
        for (from, to) in &mut self.members {
            *from -= offset;
            *to -= offset;
        }
        self
    }
}

/// The pod specs at `path` in the object's JSON text: none when a step of the path is absent or null, else one.
///
/// Every step must be an object (or null); anything else is malformed, as are duplicate keys on the path.
pub fn pod_specs<'a>(
    object: &'a str,
    path: &[Segment],
) -> Result<Vec<FoundPodSpec<'a>>, RequestError> {
    let mut found = Vec::new();
    walk(&mut Reader::new(object), Some(path), None, &mut found)?;
    Ok(found)
}

/// Reads an object: its `metadata` when `meta` is given, the pod specs at `path` when given, and skips (checking)
/// everything else.
fn walk<'a>(
    r: &mut Reader<'a>,
    path: Option<&[Segment]>,
    meta: Option<&mut ObjectMeta<'a>>,
    found: &mut Vec<FoundPodSpec<'a>>,
) -> Result<(), RequestError> {
    step(r, path, meta, String::new(), found)
}

/// How errors name the object at `pointer` (`/spec/template` is `object.spec.template`): written out only for an
/// error. The names on a path are field names without `/` (the kinds' paths, and custom kinds' paths, which are
/// letters, digits and `_`).
fn at(pointer: &str) -> String {
    format!("object{}", pointer.replace('/', "."))
}

/// One object on the way to a pod spec (at `pointer`), or the pod spec itself at the end of the path.
fn step<'a>(
    r: &mut Reader<'a>,
    path: Option<&[Segment]>,
    mut meta: Option<&mut ObjectMeta<'a>>,
    pointer: String,
    found: &mut Vec<FoundPodSpec<'a>>,
) -> Result<(), RequestError> {
    let here = |message| malformed(&at(&pointer), message);
    let kind = r.kind().map_err(here)?;
    if kind == Kind::Null {
        r.null().map_err(here)?;
        return Ok(());
    }
    if kind != Kind::Object {
        let expected = match path {
            Some([next, ..]) => format!("an object with an optional field `{next}`"),
            Some([]) => "a pod spec object".to_owned(),
            None => "an object".to_owned(),
        };
        return Err(here(invalid_type(kind, &expected)));
    }
    let open = r.pos();
    r.begin_object("an object").map_err(here)?;
    let duplicate = |key: &str| here(format!("duplicate field `{key}`"));
    let in_member = |key: &str, message| malformed(&format!("{}.{key}", at(&pointer)), message);
    let skip = |r: &mut Reader<'a>, key: &str| r.skip_over().map_err(|m| in_member(key, m));
    let mut first = true;
    if let Some([]) = path {
        let mut spec = PodSpecView::default();
        let mut layout = SpecLayout {
            start: open,
            end: open,
            // Room for a pod spec's members without growing (most have fewer than 32).
            members: Vec::with_capacity(32),
        };
        let mut seen = 0u8;
        loop {
            let member_start = r.pos();
            let Some(key) = r.next_key(&mut first).map_err(here)? else {
                break;
            };
            let bit = match &*key {
                "priorityClassName" => 1,
                "priority" => 2,
                "preemptionPolicy" => 4,
                _ => 0,
            };
            if bit != 0 && !first_time(&mut seen, bit) {
                return Err(duplicate(&key));
            }
            let field_error = |m| in_member(&key, m);
            match bit {
                0 => skip(r, &key)?,
                1 => {
                    spec.priority_class_name =
                        r.optional_string("a string").map_err(field_error)?;
                }
                _ => {
                    let present = !r.null().map_err(field_error)?;
                    if present {
                        skip(r, &key)?;
                    }
                    if bit == 2 {
                        spec.priority = present;
                    } else {
                        spec.preemption_policy = present;
                    }
                }
            }
            layout.members.push((member_start, r.pos()));
        }
        layout.end = r.pos();
        found.push(FoundPodSpec {
            pointer,
            spec,
            layout: Some(layout),
        });
        return Ok(());
    }
    let next = path.and_then(|p| p.split_first());
    let (mut seen_next, mut seen_meta) = (false, false);
    while let Some(key) = r.next_key(&mut first).map_err(here)? {
        match next {
            Some((Segment::Field(name), rest)) if *key == **name => {
                if std::mem::replace(&mut seen_next, true) {
                    return Err(duplicate(name));
                }
                // Not `format!`: its machinery was about 1% of a hot Pod validate, once per step of the path.
                let mut child = String::with_capacity(pointer.len() + 1 + name.len());
                child.push_str(&pointer);
                child.push('/');
                child.push_str(name);
                step(r, Some(rest), None, child, found)?;
            }
            _ => match meta.as_deref_mut() {
                Some(meta) if key == "metadata" => {
                    if std::mem::replace(&mut seen_meta, true) {
                        return Err(duplicate("metadata"));
                    }
                    read_meta(r, meta)?;
                }
                _ => skip(r, &key)?,
            },
        }
    }
    Ok(())
}

/// Reads the object's `metadata` (an object or null).
fn read_meta<'a>(r: &mut Reader<'a>, meta: &mut ObjectMeta<'a>) -> Result<(), RequestError> {
    const AT: &str = "object.metadata";
    if r.null().map_err(|m| malformed(AT, m))? {
        return Ok(());
    }
    let names = ["name", "generateName", "namespace"];
    read_fields(r, AT, "an object", &names, |r, field, member| {
        let value = r.optional_string("a string").map_err(|m| member.error(m))?;
        *[&mut meta.name, &mut meta.generate_name, &mut meta.namespace][field] = value;
        Ok(())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kinds;

    fn raw(json: &str) -> &str {
        json
    }

    #[test]
    fn finds_the_cronjob_pod_spec() {
        let cronjob = kinds::lookup("batch", "CronJob").expect("cronjob");
        let object = raw(
            r#"{"metadata":{"name":"c"},"spec":{"schedule":"* * * * *","jobTemplate":{"spec":{"template":{"spec":{"priorityClassName":"low","priority":5,"containers":[]}}}}}}"#,
        );
        let found = pod_specs(object, cronjob.pod_spec_path).expect("readable");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].pointer, "/spec/jobTemplate/spec/template/spec");
        assert_eq!(found[0].spec.priority_class_name.as_deref(), Some("low"));
        assert!(found[0].spec.priority);
        assert!(!found[0].spec.preemption_policy);
    }

    #[test]
    fn absent_or_null_steps_find_nothing() {
        let deployment = kinds::lookup("apps", "Deployment").expect("deployment");
        for json in [r#"{}"#, r#"{"spec":null}"#, r#"{"spec":{"template":null}}"#] {
            let object = raw(json);
            let found = pod_specs(object, deployment.pod_spec_path).expect("readable");
            assert!(found.is_empty(), "{json}");
        }
    }

    #[test]
    fn wrong_type_names_the_path() {
        let pod = kinds::lookup("", "Pod").expect("pod");
        let err = pod_specs(
            raw(r#"{"spec":{"priorityClassName":7}}"#),
            pod.pod_spec_path,
        )
        .expect_err("a number is not a class name");
        let RequestError::Malformed { path, .. } = err else {
            panic!("expected malformed, got {err:?}");
        };
        assert_eq!(path, "object.spec.priorityClassName");
    }

    #[test]
    fn errors_name_every_level_of_a_template_path() {
        let cron = kinds::lookup("batch", "CronJob").expect("cronjob");
        let levels = ["spec", "jobTemplate", "spec", "template", "spec"];
        for depth in 1..=levels.len() {
            // The object at `depth` levels down is a string; then the same level with a repeated key.
            let open: String = levels[..depth - 1]
                .iter()
                .map(|name| format!(r#"{{"{name}":"#))
                .collect();
            let close = "}".repeat(depth - 1);
            let name = levels[depth - 1];
            let at: String = levels[..depth].iter().map(|n| format!(".{n}")).collect();
            for (inner, path, says) in [
                (
                    format!(r#"{{"{name}":"x"}}"#),
                    format!("object{at}"),
                    "expected",
                ),
                (
                    format!(r#"{{"{name}":null,"{name}":null}}"#),
                    format!("object{}", &at[..at.len() - name.len() - 1]),
                    "duplicate field",
                ),
            ] {
                let object = format!("{open}{inner}{close}");
                let err = pod_specs(raw(&object), cron.pod_spec_path).expect_err(&object);
                let RequestError::Malformed { path: got, message } = err else {
                    panic!("expected malformed, got {err:?}");
                };
                assert_eq!(got, path, "{object}");
                assert!(message.contains(says), "{object}: {message}");
            }
        }
        let deep =
            r#"{"spec":{"jobTemplate":{"spec":{"template":{"spec":{"priorityClassName":7}}}}}}"#;
        let RequestError::Malformed { path, .. } =
            pod_specs(raw(deep), cron.pod_spec_path).expect_err("a number")
        else {
            panic!("expected malformed");
        };
        assert_eq!(
            path,
            "object.spec.jobTemplate.spec.template.spec.priorityClassName"
        );
    }

    #[test]
    fn spec_that_is_not_an_object_is_malformed() {
        let deployment = kinds::lookup("apps", "Deployment").expect("deployment");
        for json in [
            r#"{"spec":"x"}"#,
            r#"{"spec":[]}"#,
            r#"{"spec":{"template":{"spec":[]}}}"#,
            "7",
        ] {
            let object = raw(json);
            let err = pod_specs(object, deployment.pod_spec_path).expect_err(json);
            assert!(
                matches!(err, RequestError::Malformed { .. }),
                "{json}: {err:?}"
            );
        }
    }

    #[test]
    fn duplicate_class_names_are_malformed() {
        let pod = kinds::lookup("", "Pod").expect("pod");
        let object = raw(r#"{"spec":{"priorityClassName":"a","priorityClassName":"b"}}"#);
        let err = pod_specs(object, pod.pod_spec_path).expect_err("duplicate key");
        assert!(
            err.to_string()
                .contains("duplicate field `priorityClassName`"),
            "{err}"
        );
    }

    #[test]
    fn unescaped_class_names_are_borrowed() {
        let pod = kinds::lookup("", "Pod").expect("pod");
        let object = raw(r#"{"spec":{"priorityClassName":"prod-pc"}}"#);
        let found = pod_specs(object, pod.pod_spec_path).expect("readable");
        assert!(matches!(
            found[0].spec.priority_class_name,
            Some(Cow::Borrowed("prod-pc"))
        ));
    }

    #[test]
    fn duplicate_spec_keys_are_malformed() {
        let pod = kinds::lookup("", "Pod").expect("pod");
        let err = pod_specs(
            raw(r#"{"spec":{},"spec":{"priorityClassName":"x"}}"#),
            pod.pod_spec_path,
        )
        .expect_err("duplicate key");
        assert!(err.to_string().contains("duplicate field `spec`"), "{err}");
    }

    #[test]
    fn escaped_class_names_are_read() {
        let pod = kinds::lookup("", "Pod").expect("pod");
        let object = raw(r#"{"spec":{"priorityClassName":"a\u002db"}}"#);
        let found = pod_specs(object, pod.pod_spec_path).expect("readable");
        assert_eq!(found[0].spec.priority_class_name.as_deref(), Some("a-b"));
    }

    #[test]
    fn request_view_reads_the_needed_fields() {
        let json = r#"{"uid":"u1","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE","namespace":"prod","object":{"metadata":{"generateName":"web-"}},"userInfo":{"username":"x"}}"#;
        let view = AdmissionRequestView::from_json(json).expect("valid request");
        assert_eq!(view.uid, "u1");
        assert_eq!(view.kind.kind, "Pod");
        assert_eq!(view.namespace.as_deref(), Some("prod"));
        assert_eq!(view.object_meta().expect("meta").display_name(), "web-");
    }

    #[test]
    fn structs_written_as_arrays_are_malformed() {
        for json in [
            r#"{"kind":["","v1","Pod"],"operation":"CREATE"}"#,
            r#"["u",{"group":"","version":"v1","kind":"Pod"},null,"CREATE"]"#,
        ] {
            let err = AdmissionRequestView::from_json(json).expect_err(json);
            assert!(
                err.to_string().contains("invalid type: an array"),
                "{json}: {err}"
            );
        }
        let view = AdmissionRequestView::from_json(
            r#"{"kind":{"kind":"Pod"},"operation":"CREATE","object":{"metadata":["web"]}}"#,
        )
        .expect("readable");
        let err = view.object_meta().expect_err("metadata is an array");
        let RequestError::Malformed { path, .. } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(path, "object.metadata");
        let view = AdmissionRequestView::from_json(
            r#"{"kind":{"kind":"Pod"},"operation":"CREATE","object":[{"name":"web"}]}"#,
        )
        .expect("readable");
        assert!(view.object_meta().is_err(), "an object that is an array");
    }

    #[test]
    fn objects_are_known_to_fit_responses_only_when_shallow_and_without_huge_numbers() {
        let request = |object: &str, kind_first: bool| {
            let header = r#""kind":{"kind":"Pod"},"operation":"CREATE""#;
            if kind_first {
                format!(r#"{{{header},"object":{object}}}"#)
            } else {
                format!(r#"{{"object":{object},{header}}}"#)
            }
        };
        let nested = |levels: usize| format!("{}1{}", "[".repeat(levels), "]".repeat(levels));
        for kind_first in [true, false] {
            for (object, fits) in [
                (
                    r#"{"spec":{"priorityClassName":"a","x":[[1]]}}"#.to_owned(),
                    true,
                ),
                // The object and 125 arrays: 126 levels.
                (format!(r#"{{"x":{}}}"#, nested(125)), true),
                (format!(r#"{{"x":{}}}"#, nested(126)), false),
                (format!(r#"{{"spec":{{"x":{}}}}}"#, nested(124)), true),
                (format!(r#"{{"spec":{{"x":{}}}}}"#, nested(125)), false),
                // Empty containers count as a level.
                (
                    format!(r#"{{"x":{}[]{}}}"#, "[".repeat(124), "]".repeat(124)),
                    true,
                ),
                (
                    format!(r#"{{"x":{}[]{}}}"#, "[".repeat(125), "]".repeat(125)),
                    false,
                ),
                (
                    format!(r#"{{"x":{}{{}}{}}}"#, "[".repeat(125), "]".repeat(125)),
                    false,
                ),
                // A surrogate escape may be a lone one, which serde_json refuses to read.
                (
                    r#"{"metadata":{"annotations":{"a":"\ud800"}},"spec":{}}"#.to_owned(),
                    false,
                ),
                (
                    r#"{"metadata":{"annotations":{"a":"\u00e9"}},"spec":{}}"#.to_owned(),
                    true,
                ),
                // Keys are echoed like values: a surrogate escape in a key, walked or skipped, at any depth.
                (
                    r#"{"metadata":{"annotations":{"a\ud800":"x"}},"spec":{}}"#.to_owned(),
                    false,
                ),
                (
                    r#"{"spec":{"containers":[{"resources":{"requests":{"m\uda14ai":"1"}}}]}}"#
                        .to_owned(),
                    false,
                ),
                (r#"{"x\udc00":1,"spec":{}}"#.to_owned(), false),
                (r#"{"spec":{"x\u00e9":1}}"#.to_owned(), true),
                (r#"{"spec":{"priority":1e3}}"#.to_owned(), false),
                (format!(r#"{{"x":{}}}"#, "9".repeat(301)), false),
                (r#"{"x":-12.5}"#.to_owned(), true),
            ] {
                let json = request(&object, kind_first);
                let view = AdmissionRequestView::from_json(&json).expect("readable");
                assert_eq!(view.object_fits_responses(), fits, "{json}");
            }
        }
    }

    /// The fast path's promise, against serde_json: an object whose reading says it fits a response, or that
    /// passes the full check, is one that serde_json reads back in a response, for escapes in keys and values,
    /// read along or skipped, at every depth.
    #[test]
    fn objects_echoed_without_a_check_are_readable_by_serde_json() {
        let escapes = [
            r"\ud800",
            r"\udc00",
            r"\uda14ai",
            r"\ud83d\ude00",
            r"\u00e9",
            "plain",
        ];
        // Where the string goes: `{}` is the key or the value, inside members the decision reads or skips.
        let places = [
            r#"{"metadata":{"annotations":{"KEY":"VALUE"}},"spec":{}}"#,
            r#"{"metadata":{"labels":{"KEY":"VALUE"}},"spec":{"priorityClassName":"x"}}"#,
            r#"{"KEY":"VALUE","spec":{}}"#,
            r#"{"spec":{"KEY":"VALUE"}}"#,
            r#"{"spec":{"containers":[{"name":"a","resources":{"requests":{"KEY":"VALUE"}}}]}}"#,
            r#"{"spec":{"x":[[[{"y":[{"KEY":"VALUE"}]}]]]}}"#,
            r#"{"status":{"a":{"b":{"c":{"KEY":["VALUE"]}}}}}"#,
        ];
        let mut checked = 0;
        for escape in escapes {
            for place in places {
                for (key, value) in [(escape, "v"), ("k", escape)] {
                    let object = place
                        .replace("KEY", &format!("k{key}"))
                        .replace("VALUE", &format!("v{value}"));
                    let json = format!(
                        r#"{{"kind":{{"kind":"Pod"}},"operation":"CREATE","object":{object}}}"#
                    );
                    let Ok(view) = AdmissionRequestView::from_json(&json) else {
                        // The reader refuses a lone surrogate where it reads the string itself.
                        assert!(
                            serde_json::from_str::<serde_json::Value>(&object).is_err(),
                            "{object}"
                        );
                        continue;
                    };
                    let echoed = view.object_fits_responses()
                        || crate::output::mutation::readable_by_hosts(&object).is_ok();
                    let response = format!(r#"{{"accepted":true,"mutated_object":{object}}}"#);
                    let host_reads = serde_json::from_str::<serde_json::Value>(&response).is_ok();
                    assert_eq!(echoed, host_reads, "{object}");
                    if view.object_fits_responses() {
                        assert!(host_reads, "the fast path skipped the check: {object}");
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked > 70, "{checked}");
    }

    #[test]
    fn payloads_are_read_in_one_pass_with_request_errors_kept_for_later() {
        let payload = Payload::from_json(
            r#"{"request": {"kind": {"kind": "Pod"}, "operation": "CREATE", "object": {"spec": {"priorityClassName": 7}}},
                "settings": {"rules": []}}"#,
        )
        .expect("a payload");
        assert_eq!(payload.settings.text(), Some(r#"{"rules": []}"#));
        assert!(
            matches!(&payload.settings, PayloadSettings::Read { doc: Ok(doc), .. } if doc.rules.is_empty()),
            "{:?}",
            payload.settings
        );
        let view = payload
            .request
            .expect("the request's own fields are readable");
        let err = view.pod_specs(kinds::lookup("", "Pod").expect("pod").pod_spec_path);
        assert!(
            matches!(&err, Err(RequestError::Malformed { path, .. }) if path == "object.spec.priorityClassName"),
            "{err:?}"
        );

        let payload = Payload::from_json(r#"{"request": {"kind": "Pod"}, "settings": null}"#)
            .expect("a payload");
        assert_eq!(payload.settings.text(), None);
        assert!(payload.request.is_err(), "kind is not an object");

        for (text, says) in [
            (
                r#"{"request": {"kind": {"kind": "Pod"}, "operation": "CREATE", "object": {"a": [1,]}}}"#,
                "expected a value",
            ),
            (
                r#"{"request": {}, "request": {}}"#,
                "duplicate field `request`",
            ),
            (r#"{"settings": {}}"#, "missing field `request`"),
            (r#"[]"#, "invalid type: an array"),
            (r#"{"request": {}} x"#, "trailing characters"),
        ] {
            let err = Payload::from_json(text).expect_err(text).to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    /// Settings are read into their document in the payload's pass; what cannot be read is reported as the
    /// settings' field when their JSON is valid, and as the payload's JSON otherwise.
    #[test]
    fn settings_are_read_in_the_payloads_pass() {
        let payload = |settings: &str| {
            format!(
                r#"{{"settings": {settings}, "request": {{"kind": {{"kind": "Pod"}}, "operation": "CREATE"}}}}"#
            )
        };
        let known = r#"{"rules": [{"name": "p", "namespaces": ["prod"]}]}"#;
        let text = payload(known);
        let read = Payload::from_json_knowing(&text, Some(known)).expect("a payload");
        assert!(
            matches!(read.settings, PayloadSettings::Known(t) if t == known),
            "{:?}",
            read.settings
        );
        let read = Payload::from_json_knowing(&text, Some("{}")).expect("a payload");
        match read.settings {
            PayloadSettings::Read { text, doc: Ok(doc) } => {
                assert_eq!(text, known);
                assert_eq!(doc.rules[0].name.as_deref(), Some("p"));
            }
            other => panic!("read settings, got {other:?}"),
        }

        // A field that cannot be read, in valid JSON: the settings' error, and the request is still read.
        let text = payload(r#"{"rules": 7, "fallback": {}}"#);
        let read = Payload::from_json(&text).expect("valid JSON");
        match read.settings {
            PayloadSettings::Read { text, doc: Err(e) } => {
                assert_eq!(text, r#"{"rules": 7, "fallback": {}}"#);
                assert!(e.to_string().starts_with("rules: invalid type"), "{e}");
            }
            other => panic!("a field error, got {other:?}"),
        }
        assert!(read.request.is_ok());

        // The same field error, with a syntax error after it: the payload is not JSON.
        let text = payload(r#"{"rules": 7, "fallback": {]}"#);
        let err = Payload::from_json(&text).expect_err("not JSON").to_string();
        assert!(err.contains("expected"), "{err}");

        let text = payload("null");
        let read = Payload::from_json(&text).expect("a payload");
        assert!(
            matches!(read.settings, PayloadSettings::Absent),
            "{:?}",
            read.settings
        );
    }

    #[test]
    fn namespace_labels_are_read_with_null_as_absent() {
        let labels = object_labels(
            r#"{"kind":"Namespace","metadata":{"name":"a","labels":{"env":"prod","t":"x"}},"spec":{}}"#,
        )
        .expect("readable");
        assert_eq!(labels.get("env").map(String::as_str), Some("prod"));
        assert_eq!(labels.len(), 2);
        for empty in [
            r#"{"metadata":{"labels":null}}"#,
            r#"{"metadata":{"labels":null,"name":"x"}}"#,
            r#"{"metadata":null,"kind":"Namespace"}"#,
            r#"{"kind":"Namespace"}"#,
        ] {
            assert_eq!(object_labels(empty), Ok(Default::default()), "{empty}");
        }
        for malformed in [
            r#"{"metadata":{"labels":{"a":1}}}"#,
            r#"{"metadata":{"labels":{"a":"x","a":"y"}}}"#,
            r#"{"metadata":{"labels":{}},"metadata":{}}"#,
            r#"{"metadata":{"labels":{},"labels":{}}}"#,
            r#"{"metadata":[]}"#,
            r#"[]"#,
        ] {
            assert!(object_labels(malformed).is_err(), "{malformed}");
        }
    }

    #[test]
    fn request_without_kind_is_malformed() {
        let err =
            AdmissionRequestView::from_json(r#"{"operation":"CREATE"}"#).expect_err("no kind");
        assert!(err.to_string().contains("missing field `kind`"), "{err}");
    }
}
