//! Kubernetes' in-process admission, as far as priority-guard's generated YAML needs it: the
//! MutatingAdmissionPolicy then the ValidatingAdmissionPolicy, with their CEL evaluated by real CEL engines.
//!
//! - Matching follows `matchConstraints.resourceRules` of the YAML (groups, versions, resources, operations;
//!   a rule for `pods` does not match `pods/status`).
//! - `object`, `oldObject`, `request` and `namespaceObject` are bound as the apiserver binds them; `variables`
//!   are evaluated in order (the generated variables never fail, so eager evaluation equals the apiserver's lazy
//!   one; a variable that fails is reported as an error here).
//! - Validations and messageExpressions are evaluated by the `cel` crate with the Kubernetes libraries of
//!   `kube-cel` (which builds on cel 0.13). The MutatingAdmissionPolicy's JSONPatch expression constructs
//!   `JSONPatch{...}` values, which cel 0.13 cannot evaluate; it is evaluated by cel 0.15 with a `JSONPatch`
//!   struct type and the lists library (`lists.range`), given the variables computed with kube-cel. The patch is
//!   applied with `json-patch`.
//! - `failurePolicy: Fail`: any error denies the request, as the apiserver does.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context as _, Result, anyhow, bail};
use kube_cel::KubeCelExt as _;
use serde_json::Value;

/// What Kubernetes' admission decided.
#[derive(Debug, Clone, PartialEq)]
pub enum NativeVerdict {
    /// Admitted; `object` is the object after the MutatingAdmissionPolicy (equal to the request's when nothing
    /// changed), `None` when the request has no object.
    Allowed {
        /// The object as stored.
        object: Option<Value>,
        /// Whether the MutatingAdmissionPolicy changed it.
        mutated: bool,
        /// The messages of the validations that failed in a policy bound with `validationActions: [Warn]`, in
        /// order (the apiserver returns each as a warning, after its `Validation failed for
        /// ValidatingAdmissionPolicy '<policy>' with binding '<binding>': `).
        warnings: Vec<String>,
        /// The same for `[Audit]` (the apiserver records them in the audit annotation
        /// `validation.policy.admission.k8s.io/validation_failure`).
        audit: Vec<String>,
    },
    /// Denied by the ValidatingAdmissionPolicy (the messages of every failed validation, in order) or by an
    /// evaluation error under `failurePolicy: Fail`.
    Denied {
        /// The messages.
        messages: Vec<String>,
    },
}

#[derive(Debug)]
struct ResourceRule {
    groups: Vec<String>,
    versions: Vec<String>,
    resources: Vec<String>,
    operations: Vec<String>,
}

impl ResourceRule {
    fn matches(&self, group: &str, version: &str, resource: &str, operation: &str) -> bool {
        let has = |list: &[String], value: &str| list.iter().any(|v| v == "*" || v == value);
        has(&self.groups, group)
            && has(&self.versions, version)
            && has(&self.resources, resource)
            && has(&self.operations, operation)
    }
}

struct Variable {
    name: String,
    program: cel13::Program,
}

struct Validation {
    program: cel13::Program,
    message_program: cel13::Program,
}

struct Policy {
    rules: Vec<ResourceRule>,
    variables: Vec<Variable>,
}

/// The `validationActions` of a binding: exactly one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValidationAction {
    Deny,
    Warn,
    Audit,
}

/// A ValidatingAdmissionPolicy with its binding's action.
struct Validating {
    policy: Policy,
    validations: Vec<Validation>,
    action: ValidationAction,
}

/// The generated policies, compiled.
pub struct NativePolicies {
    validating: Vec<Validating>,
    mutating: Option<(Policy, cel15::Program)>,
    /// The text of every expression, for reports.
    pub expressions: Vec<(String, String)>,
}

impl std::fmt::Debug for NativePolicies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativePolicies")
            .field(
                "validations",
                &self
                    .validating
                    .iter()
                    .map(|v| (v.action, v.validations.len()))
                    .collect::<Vec<_>>(),
            )
            .field("mutating", &self.mutating.is_some())
            .finish()
    }
}

fn str_list(value: &Value, key: &str) -> Vec<String> {
    value[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn compile13(expression: &str, what: &str) -> Result<cel13::Program> {
    cel13::Program::compile(expression)
        .map_err(|e| anyhow!("{what} does not compile: {e}\n{expression}"))
}

fn policy(spec: &Value, kind: &str, expressions: &mut Vec<(String, String)>) -> Result<Policy> {
    let rules = spec["matchConstraints"]["resourceRules"]
        .as_array()
        .with_context(|| format!("{kind} has no resourceRules"))?
        .iter()
        .map(|r| ResourceRule {
            groups: str_list(r, "apiGroups"),
            versions: str_list(r, "apiVersions"),
            resources: str_list(r, "resources"),
            operations: str_list(r, "operations"),
        })
        .collect();
    let mut variables = Vec::new();
    for v in spec["variables"].as_array().into_iter().flatten() {
        let name = v["name"]
            .as_str()
            .context("variable without name")?
            .to_owned();
        let expression = v["expression"]
            .as_str()
            .context("variable without expression")?;
        let what = format!("{kind} variable {name}");
        variables.push(Variable {
            program: compile13(expression, &what)?,
            name,
        });
        expressions.push((what, expression.to_owned()));
    }
    Ok(Policy { rules, variables })
}

impl NativePolicies {
    /// Reads the YAML that `priority-guard vap` prints: a ValidatingAdmissionPolicy with a Deny binding (none when
    /// the settings validate nothing) and optionally a MutatingAdmissionPolicy with its binding.
    pub fn from_yaml(text: &str) -> Result<Self> {
        use serde::Deserialize as _;
        let mut documents = Vec::new();
        for document in serde_yaml_ng::Deserializer::from_str(text) {
            documents.push(Value::deserialize(document).context("the YAML does not parse")?);
        }
        let find = |kind: &'static str| documents.iter().filter(move |d| d["kind"] == kind);
        // Settings that only set defaults have nothing to validate, and no ValidatingAdmissionPolicy.
        let mut expressions = Vec::new();
        let mut validating = Vec::new();
        for vap in find("ValidatingAdmissionPolicy") {
            let name = vap["metadata"]["name"]
                .as_str()
                .context("policy without name")?;
            let mut bindings = find("ValidatingAdmissionPolicyBinding")
                .filter(|b| b["spec"]["policyName"] == name);
            let binding = bindings.next().with_context(|| {
                format!("no ValidatingAdmissionPolicyBinding for the policy {name}")
            })?;
            if bindings.next().is_some() {
                bail!("more than one binding for the policy {name}");
            }
            let actions = &binding["spec"]["validationActions"];
            let action = if *actions == serde_json::json!(["Deny"]) {
                ValidationAction::Deny
            } else if *actions == serde_json::json!(["Warn"]) {
                ValidationAction::Warn
            } else if *actions == serde_json::json!(["Audit"]) {
                ValidationAction::Audit
            } else {
                bail!("the binding of {name} has validationActions {actions}: expected one action");
            };
            if vap["spec"]["failurePolicy"] != "Fail" {
                bail!("the ValidatingAdmissionPolicy {name} does not fail closed");
            }
            let what = format!("ValidatingAdmissionPolicy {name}");
            let policy = policy(&vap["spec"], &what, &mut expressions)?;
            let mut validations = Vec::new();
            for (i, v) in vap["spec"]["validations"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                let expression = v["expression"]
                    .as_str()
                    .context("validation without expression")?;
                let message = v["messageExpression"]
                    .as_str()
                    .context("validation without messageExpression")?;
                if v["reason"] != "Forbidden" {
                    bail!(
                        "validation {i} has reason {} instead of Forbidden",
                        v["reason"]
                    );
                }
                let what = format!("{name} validations[{i}]");
                validations.push(Validation {
                    program: compile13(expression, &what)?,
                    message_program: compile13(message, &format!("{what}.messageExpression"))?,
                });
                expressions.push((format!("{what}.expression"), expression.to_owned()));
                expressions.push((format!("{what}.messageExpression"), message.to_owned()));
            }
            validating.push(Validating {
                policy,
                validations,
                action,
            });
        }
        if let Some(binding) = find("ValidatingAdmissionPolicyBinding")
            .find(|b| !validating_names(&documents).any(|name| b["spec"]["policyName"] == *name))
        {
            bail!(
                "a ValidatingAdmissionPolicyBinding without its policy: {}",
                binding["spec"]["policyName"]
            );
        }
        let mutating = match find("MutatingAdmissionPolicy").next() {
            None => None,
            Some(map) => {
                let name = map["metadata"]["name"]
                    .as_str()
                    .context("policy without name")?;
                find("MutatingAdmissionPolicyBinding")
                    .find(|b| b["spec"]["policyName"] == name)
                    .context("no MutatingAdmissionPolicyBinding for the policy")?;
                let policy = policy(&map["spec"], "MutatingAdmissionPolicy", &mut expressions)?;
                let mutations = map["spec"]["mutations"]
                    .as_array()
                    .context("no mutations")?;
                let [mutation] = mutations.as_slice() else {
                    bail!("expected one mutation, found {}", mutations.len());
                };
                if mutation["patchType"] != "JSONPatch" {
                    bail!("the mutation is not a JSONPatch");
                }
                let expression = mutation["jsonPatch"]["expression"]
                    .as_str()
                    .context("JSONPatch without expression")?;
                let program = json_patch_env()
                    .compile(expression)
                    .map_err(|e| anyhow!("the JSONPatch expression does not compile: {e}"))?;
                expressions.push(("mutations[0].jsonPatch".to_owned(), expression.to_owned()));
                Some((policy, program))
            }
        };
        Ok(Self {
            validating,
            mutating,
            expressions,
        })
    }

    /// Admits a request (an AdmissionRequest as JSON) the way the apiserver runs the two policies; the namespace
    /// object is what the apiserver would bind as `namespaceObject` (`None` binds `null`).
    pub fn admit(
        &self,
        request: &Value,
        namespace_object: Option<&Value>,
    ) -> Result<NativeVerdict> {
        self.admit_with(request, namespace_object, |object| Ok(object.clone()))
    }

    /// [`Self::admit`], with the apiserver's built-in mutating plugins run again on an object the
    /// MutatingAdmissionPolicy changed (`rerun` returns the object they leave, or their refusal), before the
    /// ValidatingAdmissionPolicy sees it.
    pub fn admit_with(
        &self,
        request: &Value,
        namespace_object: Option<&Value>,
        rerun: impl Fn(&Value) -> std::result::Result<Value, String>,
    ) -> Result<NativeVerdict> {
        let resource = &request["resource"];
        let sub_resource = request["subResource"].as_str().unwrap_or("");
        let operation = request["operation"].as_str().unwrap_or("");
        let matches = |policy: &Policy| {
            sub_resource.is_empty()
                && policy.rules.iter().any(|r| {
                    r.matches(
                        resource["group"].as_str().unwrap_or(""),
                        resource["version"].as_str().unwrap_or(""),
                        resource["resource"].as_str().unwrap_or(""),
                        operation,
                    )
                })
        };
        let mut object = request.get("object").filter(|o| !o.is_null()).cloned();
        let mut mutated = false;
        if let (Some((policy, patch_program)), Some(current)) = (&self.mutating, &object)
            && matches(policy)
        {
            let bindings = Bindings::new(request, current, namespace_object);
            let mut ctx = bindings.context13();
            let variables = match bindings.variables(&mut ctx, &policy.variables) {
                Ok(v) => v,
                Err(e) => return Ok(denied(format!("MutatingAdmissionPolicy: {e}"))),
            };
            let ops = match bindings.json_patch(patch_program, &variables) {
                Ok(ops) => ops,
                Err(e) => return Ok(denied(format!("MutatingAdmissionPolicy: {e}"))),
            };
            if !ops.is_empty() {
                let patch: json_patch::Patch = serde_json::from_value(Value::Array(ops))
                    .context("the JSONPatch is not a JSON patch")?;
                let mut patched = current.clone();
                if let Err(e) = json_patch::patch(&mut patched, &patch) {
                    return Ok(denied(format!(
                        "MutatingAdmissionPolicy: the patch fails: {e}"
                    )));
                }
                mutated = patched != *current;
                if mutated {
                    patched = match rerun(&patched) {
                        Ok(object) => object,
                        Err(message) => return Ok(denied(message)),
                    };
                }
                object = Some(patched);
            }
        }
        let (mut denials, mut warnings, mut audit) = (Vec::new(), Vec::new(), Vec::new());
        if let Some(current) = &object {
            for validating in self.validating.iter().filter(|v| matches(&v.policy)) {
                let bindings = Bindings::new(request, current, namespace_object);
                let mut ctx = bindings.context13();
                // Under failurePolicy Fail an error is a failed validation, which the binding's action
                // enforces like any other.
                let messages = match bindings.variables(&mut ctx, &validating.policy.variables) {
                    Ok(variables) => validating.failures(&ctx, &variables),
                    Err(e) => vec![format!("ValidatingAdmissionPolicy: {e}")],
                };
                match validating.action {
                    ValidationAction::Deny => denials.extend(messages),
                    ValidationAction::Warn => warnings.extend(messages),
                    ValidationAction::Audit => audit.extend(messages),
                }
            }
        }
        if !denials.is_empty() {
            return Ok(NativeVerdict::Denied { messages: denials });
        }
        Ok(NativeVerdict::Allowed {
            object,
            mutated,
            warnings,
            audit,
        })
    }
}

impl Validating {
    /// The messages of the validations that fail, in order.
    fn failures(&self, ctx: &cel13::Context<'_>, variables: &impl std::fmt::Debug) -> Vec<String> {
        let mut messages = Vec::new();
        for (i, v) in self.validations.iter().enumerate() {
            match v.program.execute(ctx) {
                Ok(cel13::Value::Bool(true)) => {}
                Ok(cel13::Value::Bool(false)) => match v.message_program.execute(ctx) {
                    Ok(cel13::Value::String(s)) => messages.push(s.to_string()),
                    other => messages.push(format!(
                        "validations[{i}].messageExpression failed: {other:?}"
                    )),
                },
                other => messages.push(format!(
                    "validations[{i}] failed: {other:?} with variables {variables:?}"
                )),
            }
        }
        messages
    }
}

/// The names of the ValidatingAdmissionPolicies among the documents.
fn validating_names(documents: &[Value]) -> impl Iterator<Item = &Value> {
    documents
        .iter()
        .filter(|d| d["kind"] == "ValidatingAdmissionPolicy")
        .map(|d| &d["metadata"]["name"])
}

fn denied(message: String) -> NativeVerdict {
    NativeVerdict::Denied {
        messages: vec![message],
    }
}

/// The apiserver's `request` variable: the AdmissionRequest without the objects.
fn request_variable(request: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for key in [
        "uid",
        "kind",
        "resource",
        "subResource",
        "requestKind",
        "requestResource",
        "requestSubResource",
        "name",
        "namespace",
        "operation",
        "userInfo",
        "dryRun",
        "options",
    ] {
        if let Some(v) = request.get(key) {
            out.insert(key.to_owned(), v.clone());
        }
    }
    for key in ["name", "namespace", "subResource"] {
        out.entry(key)
            .or_insert_with(|| Value::String(String::new()));
    }
    Value::Object(out)
}

struct Bindings {
    object: Value,
    old_object: Value,
    request: Value,
    namespace_object: Value,
}

impl Bindings {
    fn new(request: &Value, object: &Value, namespace_object: Option<&Value>) -> Self {
        Self {
            object: object.clone(),
            old_object: request.get("oldObject").cloned().unwrap_or(Value::Null),
            request: request_variable(request),
            namespace_object: namespace_object.cloned().unwrap_or(Value::Null),
        }
    }

    /// A context with the admission variables bound; `variables` is bound by [`Self::variables`].
    fn context13(&self) -> cel13::Context<'static> {
        let mut ctx = cel13::Context::default().with_all();
        ctx.add_variable_from_value("object", json_to_cel13(&self.object));
        ctx.add_variable_from_value("oldObject", json_to_cel13(&self.old_object));
        ctx.add_variable_from_value("request", json_to_cel13(&self.request));
        ctx.add_variable_from_value("namespaceObject", json_to_cel13(&self.namespace_object));
        ctx
    }

    /// Evaluates the variables in order, each seeing the ones before it, and binds them all in `ctx`.
    fn variables(
        &self,
        ctx: &mut cel13::Context<'static>,
        variables: &[Variable],
    ) -> Result<Vec<(String, cel13::Value)>> {
        let mut values: Vec<(String, cel13::Value)> = Vec::with_capacity(variables.len());
        let bind = |ctx: &mut cel13::Context<'static>, values: &[(String, cel13::Value)]| {
            let map: HashMap<cel13::objects::Key, cel13::Value> = values
                .iter()
                .map(|(k, v)| (cel13::objects::Key::String(Arc::new(k.clone())), v.clone()))
                .collect();
            ctx.add_variable_from_value("variables", cel13::Value::Map(map.into()));
        };
        for v in variables {
            bind(ctx, &values);
            let value = v
                .program
                .execute(ctx)
                .map_err(|e| anyhow!("variable {} failed: {e:?}", v.name))?;
            values.push((v.name.clone(), value));
        }
        bind(ctx, &values);
        Ok(values)
    }

    /// Evaluates the JSONPatch expression with cel 0.15 and returns the operations as JSON.
    fn json_patch(
        &self,
        program: &cel15::Program,
        variables: &[(String, cel13::Value)],
    ) -> Result<Vec<Value>> {
        let env = Arc::new(json_patch_env());
        let mut ctx = cel15::Context::with_env(env);
        ctx.add_variable_from_value("object", json_to_cel15(&self.object));
        ctx.add_variable_from_value("oldObject", json_to_cel15(&self.old_object));
        ctx.add_variable_from_value("request", json_to_cel15(&self.request));
        ctx.add_variable_from_value("namespaceObject", json_to_cel15(&self.namespace_object));
        let mut map = HashMap::new();
        for (name, value) in variables {
            let json = value
                .json()
                .map_err(|e| anyhow!("variable {name} has no JSON form: {e}"))?;
            map.insert(
                cel15::objects::Key::String(Arc::new(name.clone())),
                json_to_cel15(&json),
            );
        }
        ctx.add_variable_from_value("variables", cel15::Value::Map(map.into()));
        let value = program
            .execute(&ctx)
            .map_err(|e| anyhow!("the JSONPatch expression failed: {e:?}"))?;
        let cel15::Value::List(items) = value else {
            bail!("the JSONPatch expression returned {value:?}, not a list");
        };
        items
            .iter()
            .map(|item| {
                let cel15::Value::Struct(s) = item else {
                    bail!("a JSONPatch list item is {item:?}, not a JSONPatch");
                };
                if s.name() != "JSONPatch" {
                    bail!("a JSONPatch list item is a {}", s.name());
                }
                let mut op = serde_json::Map::new();
                for (field, value) in s.field_values() {
                    let value: cel15::Value = value
                        .as_ref()
                        .try_into()
                        .map_err(|e| anyhow!("JSONPatch.{field}: {e:?}"))?;
                    let json = value
                        .json()
                        .map_err(|e| anyhow!("JSONPatch.{field}: {e}"))?;
                    // Unset fields keep their defaults: an empty op or path is an error below, an unset value is
                    // absent.
                    if !(field == "value" && json.is_null()) {
                        op.insert(field, json);
                    }
                }
                Ok(Value::Object(op))
            })
            .collect()
    }
}

/// cel 0.15 with the `JSONPatch` type of MutatingAdmissionPolicy expressions.
fn json_patch_env() -> cel15::Env {
    use cel15::common::types::CelString;
    let mut env = cel15::Env::stdlib();
    // `lists.range`, which the patch of a custom workload kind with `[*]` uses (Kubernetes 1.34's lists library).
    #[allow(
        clippy::expect_used,
        reason = "a fresh environment has no lists library yet"
    )]
    env.add_extension(cel15::extensions::lists)
        .expect("the lists library registers");
    let def = cel15::StructDef::new("JSONPatch".to_owned())
        .add_field_with_default("op".to_owned(), Box::new(CelString::from("")))
        .add_field_with_default("path".to_owned(), Box::new(CelString::from("")))
        .add_field_with_default("value".to_owned(), Box::new(cel15::common::types::CelNull));
    // Registering a fresh type in a fresh environment cannot clash.
    #[allow(
        clippy::expect_used,
        reason = "a fresh environment has no JSONPatch type yet"
    )]
    env.add_type(def).expect("JSONPatch registers");
    env
}

macro_rules! json_to_cel {
    ($name:ident, $cel:ident) => {
        /// JSON to a CEL value the way the apiserver sees objects: integers are `int`.
        fn $name(value: &Value) -> $cel::Value {
            match value {
                Value::Null => $cel::Value::Null,
                Value::Bool(b) => $cel::Value::Bool(*b),
                Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                    (Some(i), _) => $cel::Value::Int(i),
                    (None, Some(u)) => $cel::Value::UInt(u),
                    _ => $cel::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
                },
                Value::String(s) => $cel::Value::String(Arc::new(s.clone())),
                Value::Array(items) => {
                    $cel::Value::List(Arc::new(items.iter().map($name).collect()))
                }
                Value::Object(map) => {
                    let map: HashMap<$cel::objects::Key, $cel::Value> = map
                        .iter()
                        .map(|(k, v)| ($cel::objects::Key::String(Arc::new(k.clone())), $name(v)))
                        .collect();
                    $cel::Value::Map(map.into())
                }
            }
        }
    };
}

json_to_cel!(json_to_cel13, cel13);
json_to_cel!(json_to_cel15, cel15);
