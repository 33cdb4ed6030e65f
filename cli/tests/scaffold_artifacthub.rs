//! The committed artifacthub-pkg.yml is exactly what `priority-guard scaffold artifacthub` makes of the committed
//! metadata.yml. Regenerate it with `make artifacthub-pkg.yml`, or run this test with `PRIORITY_GUARD_BLESS=1`.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod common;

use std::process::Command;

use common::{golden_difference, root, text};

fn scaffold(created_at: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_priority-guard"))
        .args(["scaffold", "artifacthub", "-m"])
        .arg(root().join("metadata.yml"))
        .args(["--created-at", created_at])
        .output()
        .unwrap()
}

#[test]
fn committed_artifacthub_package_is_generated_from_metadata() {
    let path = root().join("artifacthub-pkg.yml");
    let committed = std::fs::read_to_string(&path).unwrap();
    // The one value that is not in metadata.yml: taken from the committed file.
    let created_at = committed
        .lines()
        .find_map(|line| line.strip_prefix("createdAt: "))
        .expect("artifacthub-pkg.yml has a createdAt line")
        .trim()
        .to_owned();
    let output = scaffold(&created_at);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let generated = text(&output.stdout);
    if let Some(difference) = golden_difference(&path, &generated) {
        panic!(
            "artifacthub-pkg.yml is stale: regenerate it with `make artifacthub-pkg.yml` (or \
             PRIORITY_GUARD_BLESS=1)\n{difference}"
        );
    }
}

#[test]
fn scaffold_refuses_a_clock_time_that_is_not_rfc3339() {
    let output = scaffold("now");
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("RFC 3339"), "{err}");
    assert!(output.stdout.is_empty());
}
