//! The generated CEL stays far under Kubernetes' cost limits, even for a 100-rule settings file. The figures
//! are upper bounds computed by `priority_guard_e2e_tests::cost`; `make bench-cel` prints them.

use priority_guard_e2e_tests::cost::{self, PER_CALL_LIMIT, RUNTIME_BUDGET, Report};
use priority_guard_e2e_tests::native::NativePolicies;
use priority_guard_sdk::Settings;
use priority_guard_sdk::output::native::{self, Options};

fn report(rules: usize) -> Report {
    let settings = Settings::from_value(cost::large_settings(rules)).expect("valid settings");
    let generated = native::generate(&settings, &Options::default());
    let yaml = native::to_yaml(&generated.documents).expect("YAML");
    let policies = NativePolicies::from_yaml(&yaml).expect("compiles");
    Report::of(&policies.expressions).expect("every expression is estimated")
}

#[test]
fn a_hundred_rules_stay_under_a_tenth_of_the_limits() {
    let report = report(100);
    let (place, max) = report.max().expect("expressions");
    assert!(
        max.cost < PER_CALL_LIMIT / 10,
        "{place} costs {} (limit {PER_CALL_LIMIT})",
        max.cost
    );
    assert!(
        report.total() < RUNTIME_BUDGET / 10,
        "one admission costs {} (budget {RUNTIME_BUDGET})",
        report.total()
    );
}

#[test]
fn cost_grows_linearly_with_the_rules() {
    let (ten, hundred) = (report(10).total(), report(100).total());
    // Ten times the rules: about ten times the cost, never the square.
    assert!(
        hundred > 5 * ten && hundred < 15 * ten,
        "10 rules: {ten}, 100 rules: {hundred}"
    );
}
