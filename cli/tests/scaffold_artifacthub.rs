//! The committed artifacthub-pkg.yml is exactly what `priority-guard scaffold artifacthub` makes of the committed
//! metadata.yml. Regenerate it with `make artifacthub-pkg.yml`, or run this test with `PRIORITY_GUARD_BLESS=1`.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scaffold(created_at: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_priority-guard"))
        .args(["scaffold", "artifacthub", "-m"])
        .arg(root().join("metadata.yml"))
        .args(["--created-at", created_at])
        .output()
        .unwrap()
}

/// The lines where two texts differ, for the failure message.
fn diff(want: &str, got: &str) -> String {
    let (want, got): (Vec<_>, Vec<_>) = (want.lines().collect(), got.lines().collect());
    let mut out = String::new();
    for index in 0..want.len().max(got.len()) {
        let (w, g) = (want.get(index), got.get(index));
        if w != g {
            out.push_str(&format!(
                "line {}:\n  committed: {}\n  generated: {}\n",
                index + 1,
                w.unwrap_or(&"(none)"),
                g.unwrap_or(&"(none)")
            ));
        }
    }
    out
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
    let generated = String::from_utf8(output.stdout).unwrap();
    if std::env::var_os("PRIORITY_GUARD_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    assert!(
        committed == generated,
        "artifacthub-pkg.yml is stale: regenerate it with `make artifacthub-pkg.yml` (or PRIORITY_GUARD_BLESS=1)\n{}",
        diff(&committed, &generated)
    );
}

#[test]
fn scaffold_refuses_a_clock_time_that_is_not_rfc3339() {
    let output = scaffold("now");
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("RFC 3339"), "{err}");
    assert!(output.stdout.is_empty());
}
