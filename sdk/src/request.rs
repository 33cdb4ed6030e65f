//! A borrowed view of an admission request: only the fields the decision reads, parsed without copying the
//! object, and the pod specs found at a kind's path.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::kinds::Segment;

/// A request that cannot be read; the policy rejects it with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The request is not the JSON of an AdmissionRequest.
    #[error("the admission request is malformed at {path}: {message}")]
    Malformed {
        /// Where, e.g. `object.spec.priorityClassName`.
        path: String,
        /// What serde said.
        message: String,
    },
    /// The request lacks something the decision needs.
    #[error("the admission request has no {0}")]
    Missing(&'static str),
}

impl RequestError {
    fn from_path(e: serde_path_to_error::Error<serde_json::Error>, prefix: &str) -> Self {
        let path = e.path().to_string();
        let path = match (prefix.is_empty(), path.as_str()) {
            (true, ".") => "its root".to_owned(),
            (true, _) => path,
            (false, ".") => prefix.to_owned(),
            (false, _) => format!("{prefix}.{path}"),
        };
        let mut message = e.into_inner().to_string();
        // Positions refer to the fragment, not the request; the path already says where.
        if let Some(at) = message.find(" at line ") {
            message.truncate(at);
        }
        RequestError::Malformed { path, message }
    }
}

/// `request.kind`: group, version and kind.
#[derive(Debug, Clone, Deserialize)]
pub struct GroupVersionKind<'a> {
    /// The API group, `""` for core.
    #[serde(borrow, default)]
    pub group: Cow<'a, str>,
    /// The API version.
    #[serde(borrow, default)]
    pub version: Cow<'a, str>,
    /// The kind.
    #[serde(borrow)]
    pub kind: Cow<'a, str>,
}

/// The fields of an AdmissionRequest that the decision reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequestView<'a> {
    /// The request's uid, echoed in the response.
    #[serde(borrow, default)]
    pub uid: Cow<'a, str>,
    /// The kind of the object.
    #[serde(borrow, deserialize_with = "map_only")]
    pub kind: GroupVersionKind<'a>,
    /// The subresource, if the request is for one (`status`, `scale`, ...).
    #[serde(borrow, default)]
    pub sub_resource: Option<Cow<'a, str>>,
    /// `CREATE`, `UPDATE`, `DELETE` or `CONNECT`.
    #[serde(borrow)]
    pub operation: Cow<'a, str>,
    /// The namespace of the object.
    #[serde(borrow, default)]
    pub namespace: Option<Cow<'a, str>>,
    /// The name of the object, when known.
    #[serde(borrow, default)]
    pub name: Option<Cow<'a, str>>,
    /// The object, unparsed.
    #[serde(borrow, default)]
    pub object: Option<&'a RawValue>,
}

impl<'a> AdmissionRequestView<'a> {
    /// Reads the fields the decision needs from the JSON of an AdmissionRequest.
    pub fn from_json(json: &'a str) -> Result<Self, RequestError> {
        let mut de = serde_json::Deserializer::from_str(json);
        let view = serde_path_to_error::deserialize(MapOnly(&mut de))
            .map_err(|e| RequestError::from_path(e, ""))?;
        de.end().map_err(|e| RequestError::Malformed {
            path: "its end".into(),
            message: e.to_string(),
        })?;
        Ok(view)
    }

    /// The object's metadata fields the decision reads.
    pub fn object_meta(&self) -> Result<ObjectMeta<'a>, RequestError> {
        let object = self.object.ok_or(RequestError::Missing("object"))?;
        #[derive(Deserialize)]
        struct Root<'a> {
            #[serde(borrow, default, deserialize_with = "map_only")]
            metadata: Option<ObjectMeta<'a>>,
        }
        let mut de = serde_json::Deserializer::from_str(object.get());
        let root: Root<'a> = serde_path_to_error::deserialize(MapOnly(&mut de))
            .map_err(|e| RequestError::from_path(e, "object"))?;
        Ok(root.metadata.unwrap_or_default())
    }
}

/// `metadata` fields of the object.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta<'a> {
    /// The object's name.
    #[serde(borrow, default)]
    pub name: Option<Cow<'a, str>>,
    /// The prefix the apiserver will complete into a name.
    #[serde(borrow, default)]
    pub generate_name: Option<Cow<'a, str>>,
    /// The object's namespace.
    #[serde(borrow, default)]
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
}

/// The pod specs at `path` in the object: none when a step of the path is absent or null, else one.
///
/// Every step must be an object (or null); anything else is malformed, as are duplicate keys on the path.
pub fn pod_specs<'a>(
    object: &'a RawValue,
    path: &[Segment],
) -> Result<Vec<FoundPodSpec<'a>>, RequestError> {
    let mut found = Vec::new();
    let mut de = serde_json::Deserializer::from_str(object.get());
    let walk = Step {
        path,
        pointer: String::new(),
        found: &mut found,
    };
    let mut track = serde_path_to_error::Track::new();
    walk.deserialize(serde_path_to_error::Deserializer::new(&mut de, &mut track))
        .map_err(|e| {
            RequestError::from_path(serde_path_to_error::Error::new(track.path(), e), "object")
        })?;
    Ok(found)
}

/// One object on the way to a pod spec: reads the next field of the path, or the pod spec's own fields at the
/// end, and skips everything else without building it.
struct Step<'p, 'f, 'a> {
    path: &'p [Segment],
    pointer: String,
    found: &'f mut Vec<FoundPodSpec<'a>>,
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for Step<'_, '_, 'a> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for Step<'_, '_, 'a> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.path.first() {
            Some(next) => write!(f, "an object with an optional field `{next}`"),
            None => f.write_str("a pod spec object"),
        }
    }

    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        let mut seen: [bool; 3] = [false; 3];
        let mut once = |slot: usize, key: &str| {
            if std::mem::replace(&mut seen[slot], true) {
                Err(serde::de::Error::custom(format_args!(
                    "duplicate field `{key}`"
                )))
            } else {
                Ok(())
            }
        };
        match self.path.split_first() {
            Some((Segment::Field(name), rest)) => {
                while let Some(key) = map.next_key::<CowStr<'de>>()? {
                    if key.0 == *name {
                        once(0, name)?;
                        map.next_value_seed(Step {
                            path: rest,
                            pointer: format!("{}/{}", self.pointer, name),
                            found: &mut *self.found,
                        })?;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            None => {
                let mut spec = PodSpecView::default();
                while let Some(key) = map.next_key::<CowStr<'de>>()? {
                    match &*key.0 {
                        "priorityClassName" => {
                            once(0, "priorityClassName")?;
                            spec.priority_class_name =
                                map.next_value::<Option<CowStr<'de>>>()?.map(|c| c.0);
                        }
                        "priority" => {
                            once(1, "priority")?;
                            spec.priority = map.next_value::<Option<IgnoredAny>>()?.is_some();
                        }
                        "preemptionPolicy" => {
                            once(2, "preemptionPolicy")?;
                            spec.preemption_policy =
                                map.next_value::<Option<IgnoredAny>>()?.is_some();
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                self.found.push(FoundPodSpec {
                    pointer: self.pointer,
                    spec,
                });
            }
        }
        Ok(())
    }
}

/// Reads a struct only from a JSON object: derived structs also accept an array of their fields in order
/// (`"metadata": ["web"]` would read as a name), which no Kubernetes object holds.
fn map_only<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    T::deserialize(MapOnly(d))
}

/// A deserializer that reads structs as maps only (see [`map_only`]); everything else as the inner one.
struct MapOnly<D>(D);

macro_rules! forward {
    ($($method:ident ( $($arg:ident : $ty:ty),* )),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
            self.0.$method($($arg,)* visitor)
        })*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for MapOnly<D> {
    type Error = D::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_map(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_option(OptionOfMap(visitor))
    }

    forward! {
        deserialize_any(), deserialize_bool(), deserialize_i8(), deserialize_i16(), deserialize_i32(),
        deserialize_i64(), deserialize_u8(), deserialize_u16(), deserialize_u32(), deserialize_u64(),
        deserialize_f32(), deserialize_f64(), deserialize_char(), deserialize_str(), deserialize_string(),
        deserialize_bytes(), deserialize_byte_buf(), deserialize_unit(), deserialize_seq(),
        deserialize_map(), deserialize_identifier(), deserialize_ignored_any(),
        deserialize_unit_struct(name: &'static str),
        deserialize_newtype_struct(name: &'static str),
        deserialize_tuple(len: usize),
        deserialize_tuple_struct(name: &'static str, len: usize),
        deserialize_enum(name: &'static str, variants: &'static [&'static str]),
    }
}

/// The visitor of an `Option<struct>`: its `Some` content is read as a map only.
struct OptionOfMap<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for OptionOfMap<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_none()
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_unit()
    }

    fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<V::Value, D2::Error> {
        self.0.visit_some(MapOnly(d))
    }
}

/// A string borrowed from the input when it has no escapes, owned otherwise.
struct CowStr<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).expect("valid json")
    }

    #[test]
    fn finds_the_cronjob_pod_spec() {
        let cronjob = kinds::lookup("batch", "CronJob").expect("cronjob");
        let object = raw(
            r#"{"metadata":{"name":"c"},"spec":{"schedule":"* * * * *","jobTemplate":{"spec":{"template":{"spec":{"priorityClassName":"low","priority":5,"containers":[]}}}}}}"#,
        );
        let found = pod_specs(&object, cronjob.pod_spec_path).expect("readable");
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
            let found = pod_specs(&object, deployment.pod_spec_path).expect("readable");
            assert!(found.is_empty(), "{json}");
        }
    }

    #[test]
    fn wrong_type_names_the_path() {
        let pod = kinds::lookup("", "Pod").expect("pod");
        let err = pod_specs(
            &raw(r#"{"spec":{"priorityClassName":7}}"#),
            pod.pod_spec_path,
        )
        .expect_err("a number is not a class name");
        let RequestError::Malformed { path, .. } = err else {
            panic!("expected malformed, got {err:?}");
        };
        assert_eq!(path, "object.spec.priorityClassName");
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
            let err = pod_specs(&object, deployment.pod_spec_path).expect_err(json);
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
        let err = pod_specs(&object, pod.pod_spec_path).expect_err("duplicate key");
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
        let found = pod_specs(&object, pod.pod_spec_path).expect("readable");
        assert!(matches!(
            found[0].spec.priority_class_name,
            Some(Cow::Borrowed("prod-pc"))
        ));
    }

    #[test]
    fn duplicate_spec_keys_are_malformed() {
        let pod = kinds::lookup("", "Pod").expect("pod");
        let err = pod_specs(
            &raw(r#"{"spec":{},"spec":{"priorityClassName":"x"}}"#),
            pod.pod_spec_path,
        )
        .expect_err("duplicate key");
        assert!(err.to_string().contains("duplicate field `spec`"), "{err}");
    }

    #[test]
    fn escaped_class_names_are_read() {
        let pod = kinds::lookup("", "Pod").expect("pod");
        let object = raw(r#"{"spec":{"priorityClassName":"a\u002db"}}"#);
        let found = pod_specs(&object, pod.pod_spec_path).expect("readable");
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
            assert!(err.to_string().contains("expected struct"), "{json}: {err}");
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
    fn request_without_kind_is_malformed() {
        let err =
            AdmissionRequestView::from_json(r#"{"operation":"CREATE"}"#).expect_err("no kind");
        assert!(err.to_string().contains("missing field `kind`"), "{err}");
    }
}
