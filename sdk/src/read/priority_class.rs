//! Reading PriorityClass objects: the class a lookup returns ([`PriorityClassInfo::from_json`]) and the object of
//! a request for a class, with the strict reader of `crate::json`.

use std::borrow::Cow;

use crate::json::Reader;
use crate::model::priority_class::PreemptionPolicy;
use crate::model::priority_class::PriorityClassInfo;
use crate::read::request::{RequestError, read_fields};

/// The fields of a PriorityClass object, as written.
#[derive(Debug, Clone, Default)]
pub(crate) struct PriorityClassDoc {
    pub(crate) metadata: Metadata,
    pub(crate) value: Option<i32>,
    pub(crate) global_default: Option<bool>,
    pub(crate) description: Option<String>,
    pub(crate) preemption_policy: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Metadata {
    pub(crate) name: Option<String>,
    pub(crate) generate_name: Option<String>,
}

/// Reads the fields of a PriorityClass object (the strict reader of `crate::json`); `prefix` names it in errors.
/// Other fields are skipped; a field read twice is malformed.
pub(crate) fn parse(json: &str, prefix: &str) -> Result<PriorityClassDoc, RequestError> {
    let malformed = |path: &str, message: String| RequestError::Malformed {
        path: path.to_owned(),
        message,
    };
    let r = &mut Reader::new(json);
    let mut doc = PriorityClassDoc::default();
    let fields = [
        "metadata",
        "value",
        "globalDefault",
        "description",
        "preemptionPolicy",
    ];
    read_fields(r, prefix, "an object", &fields, |r, field, member| {
        let at = |m| member.error(m);
        match field {
            0 => {
                if !r.null().map_err(at)? {
                    let names = ["name", "generateName"];
                    read_fields(
                        r,
                        &member.path(),
                        "an object",
                        &names,
                        |r, field, member| {
                            let value = r
                                .optional_string("a string")
                                .map(|s| s.map(Cow::into_owned))
                                .map_err(|m| member.error(m))?;
                            if field == 0 {
                                doc.metadata.name = value;
                            } else {
                                doc.metadata.generate_name = value;
                            }
                            Ok(())
                        },
                    )?;
                }
            }
            1 => doc.value = r.optional_i32().map_err(at)?,
            2 => {
                if !r.null().map_err(at)? {
                    doc.global_default = Some(r.bool("a boolean").map_err(at)?);
                }
            }
            3 => {
                doc.description = r
                    .optional_string("a string")
                    .map_err(at)?
                    .map(Cow::into_owned);
            }
            _ => {
                doc.preemption_policy = r
                    .optional_string("a string")
                    .map_err(at)?
                    .map(Cow::into_owned);
            }
        }
        Ok(())
    })?;
    r.end().map_err(|m| malformed(prefix, m))?;
    Ok(doc)
}

pub(crate) fn preemption_policy(
    text: Option<&str>,
    prefix: &str,
) -> Result<PreemptionPolicy, RequestError> {
    match text {
        None => Ok(PreemptionPolicy::PreemptLowerPriority),
        Some(text) => PreemptionPolicy::parse(text).ok_or_else(|| RequestError::Malformed {
            path: format!("{prefix}.preemptionPolicy"),
            message: format!("\"{text}\" is not Never or PreemptLowerPriority"),
        }),
    }
}

impl PriorityClassInfo {
    /// Reads a PriorityClass object (as the host returns it). `what` names it in errors.
    pub fn from_json(json: &str, what: &str) -> Result<Self, RequestError> {
        let doc = parse(json, what)?;
        Ok(Self {
            value: doc
                .value
                .ok_or(RequestError::Missing("PriorityClass value"))?,
            preemption_policy: preemption_policy(doc.preemption_policy.as_deref(), what)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looked_up_classes_default_to_preempting() {
        let info = PriorityClassInfo::from_json(r#"{"value":7}"#, "PriorityClass \"x\"")
            .expect("readable");
        assert_eq!(
            info,
            PriorityClassInfo {
                value: 7,
                preemption_policy: PreemptionPolicy::PreemptLowerPriority
            }
        );
    }
}
