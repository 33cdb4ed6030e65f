//! An upper bound of the runtime CEL cost of the generated expressions, with the cost factors of cel-go (which
//! the apiserver uses): identifiers and field selections 1, literals 0, list literals 10, map literals 30,
//! struct literals 40, string traversal 0.1 per character (equality, concatenation, `startsWith`), list
//! membership and `indexOf` one unit per element, and 1 for any other call.
//!
//! The bound takes the worst branch of every conditional and evaluates both sides of `&&` and `||`. Sizes of the
//! request's strings are those the apiserver has validated before a ValidatingAdmissionPolicy runs: object names
//! at most 253 characters, namespaces and kinds 63, PriorityClass names 253, label keys 317 and values 63.
//! Anything else counts as [`UNKNOWN_SIZE`].

use std::collections::HashMap;

use anyhow::{Result, anyhow};
use cel13::IdedExpr;
use cel13::common::ast::{EntryExpr, Expr, LiteralValue};

/// The size assumed for a string or list whose bound is not known.
pub const UNKNOWN_SIZE: u64 = 1024;

/// Kubernetes' limit for one expression.
pub const PER_CALL_LIMIT: u64 = 1_000_000;
/// Kubernetes' limit for all expressions of one policy evaluation.
pub const RUNTIME_BUDGET: u64 = 10_000_000;

/// The cost and result size bound of an expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    /// Cost units, worst case.
    pub cost: u64,
    /// Length of a string, or number of elements of a list, worst case.
    pub size: u64,
    /// For a list: the size bound of its elements.
    pub element_size: u64,
}

impl Estimate {
    const fn scalar(cost: u64) -> Self {
        Self {
            cost,
            size: 1,
            element_size: 1,
        }
    }
}

fn traversal(chars: u64) -> u64 {
    chars.div_ceil(10)
}

/// Size bounds of the paths the expressions read (`object.metadata.name`) and of the variables computed so far
/// (`variables.rule`).
#[derive(Debug, Clone)]
pub struct Sizes {
    paths: HashMap<String, Estimate>,
}

impl Default for Sizes {
    fn default() -> Self {
        let mut paths = HashMap::new();
        let string = |size| Estimate {
            cost: 0,
            size,
            element_size: 1,
        };
        for (path, size) in [
            ("object.metadata.name", 253),
            ("object.metadata.generateName", 253),
            ("request.namespace", 63),
            ("request.kind.kind", 63),
            ("priorityClassName", 253),
        ] {
            paths.insert(path.to_owned(), string(size));
        }
        Self { paths }
    }
}

impl Sizes {
    /// Records the bound of a variable, for the expressions after it.
    pub fn set_variable(&mut self, name: &str, estimate: Estimate) {
        self.paths.insert(format!("variables.{name}"), estimate);
    }

    fn lookup(&self, path: &str) -> Option<Estimate> {
        if let Some(e) = self.paths.get(path) {
            return Some(*e);
        }
        // Any `...priorityClassName` field is a validated PriorityClass name; label values are label values.
        if path.ends_with(".priorityClassName") {
            return self.paths.get("priorityClassName").copied();
        }
        None
    }
}

/// The dotted path of a selection chain, if it is one (`object.metadata.name`).
fn path(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Ident(name) => Some(name.clone()),
        Expr::Select(s) if !s.test => path(&s.operand.expr).map(|p| format!("{p}.{}", s.field)),
        _ => None,
    }
}

/// Estimates an expression's worst-case runtime cost.
pub fn estimate(source: &str, sizes: &Sizes) -> Result<Estimate> {
    let program = cel13::Program::compile(source).map_err(|e| anyhow!("does not compile: {e}"))?;
    walk(program.expression(), sizes)
}

fn walk(e: &IdedExpr, sizes: &Sizes) -> Result<Estimate> {
    Ok(match &e.expr {
        Expr::Unspecified => return Err(anyhow!("unspecified expression")),
        Expr::Literal(LiteralValue::String(s)) => Estimate {
            cost: 0,
            size: s.inner().chars().count() as u64,
            element_size: 1,
        },
        Expr::Literal(_) => Estimate::scalar(0),
        Expr::Ident(name) => {
            let known = sizes.lookup(name);
            Estimate {
                cost: 1,
                ..known.unwrap_or(Estimate::scalar(0))
            }
        }
        Expr::Select(select) => {
            let operand = walk(&select.operand, sizes)?;
            let known = path(&e.expr).and_then(|p| sizes.lookup(&p));
            let size = known.map_or(UNKNOWN_SIZE, |k| k.size);
            let element_size = known.map_or(UNKNOWN_SIZE, |k| k.element_size);
            Estimate {
                cost: operand.cost + 1,
                size: if select.test { 1 } else { size },
                element_size,
            }
        }
        Expr::List(list) => {
            let mut cost = 10;
            let mut element_size = 0;
            for element in &list.elements {
                let el = walk(element, sizes)?;
                cost += el.cost;
                element_size = element_size.max(el.size);
            }
            Estimate {
                cost,
                size: list.elements.len() as u64,
                element_size,
            }
        }
        Expr::Map(map) => {
            let mut cost = 30;
            for entry in &map.entries {
                if let EntryExpr::MapEntry(entry) = &entry.expr {
                    cost += walk(&entry.key, sizes)?.cost + walk(&entry.value, sizes)?.cost;
                }
            }
            Estimate {
                cost,
                size: map.entries.len() as u64,
                element_size: UNKNOWN_SIZE,
            }
        }
        Expr::Struct(s) => {
            let mut cost = 40;
            for entry in &s.entries {
                if let EntryExpr::StructField(field) = &entry.expr {
                    cost += walk(&field.value, sizes)?.cost;
                }
            }
            Estimate::scalar(cost)
        }
        Expr::Comprehension(c) => {
            let range = walk(&c.iter_range, sizes)?;
            let step = walk(&c.loop_step, sizes)?.cost + walk(&c.loop_cond, sizes)?.cost;
            Estimate::scalar(
                range.cost
                    + walk(&c.accu_init, sizes)?.cost
                    + range.size * step
                    + walk(&c.result, sizes)?.cost,
            )
        }
        Expr::Call(call) => {
            let mut args = Vec::with_capacity(call.args.len() + 1);
            if let Some(target) = &call.target {
                args.push(walk(target, sizes)?);
            }
            for arg in &call.args {
                args.push(walk(arg, sizes)?);
            }
            let arg_cost: u64 = args.iter().map(|a| a.cost).sum();
            let arg = |i: usize| args.get(i).copied().unwrap_or(Estimate::scalar(0));
            match call.func_name.as_str() {
                "_?_:_" => {
                    let (t, f) = (arg(1), arg(2));
                    Estimate {
                        cost: arg(0).cost + t.cost.max(f.cost),
                        size: t.size.max(f.size),
                        element_size: t.element_size.max(f.element_size),
                    }
                }
                "_&&_" | "_||_" => Estimate::scalar(arg_cost),
                "_==_" | "_!=_" => {
                    Estimate::scalar(arg_cost + 1 + traversal(arg(0).size.min(arg(1).size)))
                }
                "_+_" => {
                    let (l, r) = (arg(0), arg(1));
                    Estimate {
                        cost: arg_cost + 1 + traversal(l.size + r.size),
                        size: l.size + r.size,
                        element_size: l.element_size.max(r.element_size),
                    }
                }
                "@in" => {
                    // A list: one comparison per element; a map: one lookup.
                    let container = arg(1);
                    let is_list = matches!(call.args.get(1).map(|a| &a.expr), Some(Expr::List(_)))
                        || container.element_size != UNKNOWN_SIZE;
                    let per = 1 + traversal(arg(0).size.min(container.element_size));
                    Estimate::scalar(arg_cost + if is_list { container.size * per } else { 1 })
                }
                "_[_]" => {
                    let container = arg(0);
                    Estimate {
                        cost: arg_cost + 1,
                        size: container.element_size,
                        element_size: UNKNOWN_SIZE,
                    }
                }
                "startsWith" | "endsWith" => {
                    Estimate::scalar(arg_cost + 1 + traversal(arg(1).size))
                }
                "indexOf" => Estimate::scalar(arg_cost + 1 + arg(0).size),
                "has" => Estimate::scalar(arg_cost + 1),
                _ => Estimate::scalar(arg_cost + 1),
            }
        }
    })
}

/// The estimate of each expression of a policy, variables first (each variable's size feeds the ones after).
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// (where, estimate), in the policy's order.
    pub expressions: Vec<(String, Estimate)>,
}

impl Report {
    /// Estimates `(where, source)` pairs in order; `where` of a variable is `... variable <name>`.
    pub fn of(expressions: &[(String, String)]) -> Result<Self> {
        let mut sizes = Sizes::default();
        let mut report = Self::default();
        let mut last_policy = String::new();
        for (place, source) in expressions {
            // Variables of the mutating policy do not see those of the validating one.
            let policy = place.split(' ').next().unwrap_or("").to_owned();
            if policy != last_policy && place.contains(" variable ") {
                sizes = Sizes::default();
                last_policy = policy;
            }
            let estimate = estimate(source, &sizes).map_err(|e| anyhow!("{place}: {e}"))?;
            if let Some(name) = place.split(" variable ").nth(1) {
                sizes.set_variable(name, estimate);
            }
            report.expressions.push((place.clone(), estimate));
        }
        Ok(report)
    }

    /// The most expensive expression.
    pub fn max(&self) -> Option<&(String, Estimate)> {
        self.expressions.iter().max_by_key(|(_, e)| e.cost)
    }

    /// All expressions of one admission: every variable, validation and message of both policies.
    pub fn total(&self) -> u64 {
        self.expressions.iter().map(|(_, e)| e.cost).sum()
    }
}

/// A large, realistic settings file: `rules` rules, each with three namespaces, a label selector with three
/// requirements, an allow list of ten classes and two prefixes, a default and `requirePriorityClass`; a fallback
/// with a deny list; two unset classes. What a platform team with many tenants would write, and then some.
pub fn large_settings(rules: usize) -> serde_json::Value {
    let rules: Vec<serde_json::Value> = (0..rules)
        .map(|i| {
            let classes: Vec<String> = (0..10)
                .map(|c| format!("tenant-{i:03}-class-{c}"))
                .chain([format!("tenant-{i:03}-*"), "shared-*".to_owned()])
                .collect();
            serde_json::json!({
                "name": format!("tenant-{i:03}"),
                "namespaces": [format!("tenant-{i:03}-prod"), format!("tenant-{i:03}-stage"), format!("tenant-{i:03}-dev")],
                "namespaceSelector": {
                    "matchLabels": {"example.com/tenant": format!("t{i:03}")},
                    "matchExpressions": [
                        {"key": "example.com/env", "operator": "In", "values": ["prod", "stage", "dev"]},
                        {"key": "example.com/frozen", "operator": "DoesNotExist"}
                    ]
                },
                "allowedPriorityClasses": classes,
                "defaultPriorityClass": format!("tenant-{i:03}-class-0"),
                "requirePriorityClass": true
            })
        })
        .collect();
    serde_json::json!({
        "rules": rules,
        "fallback": {"deniedPriorityClasses": ["system-*", "tenant-*"], "requirePriorityClass": true},
        "unsetPriorityClasses": ["cluster-default", "legacy-default"],
        "mutateWorkloadTemplates": true
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(source: &str) -> u64 {
        estimate(source, &Sizes::default()).expect("estimates").cost
    }

    #[test]
    fn literals_are_free_and_selections_cost_one_per_step() {
        assert_eq!(cost("1"), 0);
        assert_eq!(cost("object"), 1);
        assert_eq!(cost("object.metadata.name"), 3);
        assert_eq!(cost("has(object.spec)"), 2);
    }

    #[test]
    fn list_membership_grows_with_the_list() {
        let small = cost(r#"request.namespace in ["a"]"#);
        let big =
            cost(r#"request.namespace in ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]"#);
        assert!(big > small + 9, "{small} {big}");
    }

    #[test]
    fn conditionals_take_the_worse_branch_and_concatenation_the_lengths() {
        assert_eq!(cost(r#"true ? object.metadata.name : "x""#), 3);
        // 3 + 2 (selections) + 1 + ceil((253 + 63) / 10)
        assert_eq!(
            cost("object.metadata.name + request.namespace"),
            3 + 2 + 1 + 32
        );
    }

    #[test]
    fn variables_carry_their_size_to_later_expressions() {
        let mut sizes = Sizes::default();
        let rule = estimate(r#"["a", "bbbbbbbbbbbbbbbbbbbb"][0]"#, &sizes).expect("estimates");
        assert_eq!(rule.size, 20);
        sizes.set_variable("rule", rule);
        let concat = estimate(r#"variables.rule + "x""#, &sizes).expect("estimates");
        assert_eq!(concat.size, 21);
    }
}
