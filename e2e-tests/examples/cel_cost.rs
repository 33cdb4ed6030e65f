//! The CEL cost of the generated admission policies for a 100-rule settings file (and smaller ones), against
//! Kubernetes' limits: 1,000,000 per expression, 10,000,000 per policy evaluation. `make bench-cel` runs it (`cargo run -p priority-guard-e2e-tests --example cel_cost`).
//!
//! The figures are upper bounds (see `priority_guard_e2e_tests::cost`): cel-go's cost factors, the worst branch
//! of every conditional, both sides of every `&&` and `||`, the longest strings the apiserver accepts. Also
//! reported: how long the CEL engines here take to admit a Pod with those policies (not the apiserver's speed).

use std::time::Instant;

use anyhow::Result;
use priority_guard_e2e_tests::cost::{self, PER_CALL_LIMIT, RUNTIME_BUDGET, Report};
use priority_guard_e2e_tests::native::NativePolicies;
use priority_guard_sdk::Settings;
use priority_guard_sdk::output::native::{self, Options};
use serde_json::json;

fn main() -> Result<()> {
    println!(
        "| rules | expressions | largest expression (cost) | all expressions of one admission | admit a Pod here |"
    );
    println!("|---:|---:|---|---:|---:|");
    for rules in [3, 10, 100] {
        let settings = Settings::from_value(cost::large_settings(rules))?;
        let generated = native::generate(&settings, &Options::default());
        let yaml = native::to_yaml(&generated.documents)?;
        let policies = NativePolicies::from_yaml(&yaml)?;
        let report = Report::of(&policies.expressions)?;
        let (place, max) = report
            .max()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no expressions"))?;
        // A Pod in the last rule's namespace that names a class of another tenant: every rule is evaluated.
        let last = rules - 1;
        let request = json!({
            "uid": "bench", "operation": "CREATE", "namespace": format!("tenant-{last:03}-dev"), "name": "web",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "object": {"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": "web", "namespace": format!("tenant-{last:03}-dev")},
                       "spec": {"containers": [{"name": "c", "image": "i"}], "priorityClassName": "tenant-000-class-1"}}
        });
        let namespace = json!({"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": format!("tenant-{last:03}-dev"), "labels": {"example.com/env": "dev"}}});
        let runs = 200;
        let start = Instant::now();
        for _ in 0..runs {
            std::hint::black_box(policies.admit(&request, Some(&namespace))?);
        }
        let per_admit = start.elapsed() / runs;
        println!(
            "| {rules} | {} | {} {} ({:.2}% of {PER_CALL_LIMIT}) | {} ({:.2}% of {RUNTIME_BUDGET}) | {per_admit:.2?} |",
            report.expressions.len(),
            place,
            max.cost,
            100.0 * max.cost as f64 / PER_CALL_LIMIT as f64,
            report.total(),
            100.0 * report.total() as f64 / RUNTIME_BUDGET as f64,
        );
        if rules == 100 && std::env::args().any(|a| a == "--verbose") {
            for (place, estimate) in &report.expressions {
                println!("  {place}: {}", estimate.cost);
            }
        }
    }
    Ok(())
}
