//! What the CLI's test crates share: the repository root, output as text, scratch directories and golden files.
//! Each test crate uses part of it.

#![allow(dead_code, reason = "each test crate uses the part it needs")]

use std::path::{Path, PathBuf};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A command's output as text; the CLI writes UTF-8.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

/// A scratch directory, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("priority-guard-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Self(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `contents` at `name`, creating the folders on the way.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create scratch folder");
        }
        std::fs::write(&path, contents).expect("write scratch file");
        path
    }

    /// The host's test guest (`host/tests/guest.wat`), compiled, as `guest.wasm`.
    pub fn guest(&self) -> PathBuf {
        let wasm =
            wat::parse_str(include_str!("../../../host/tests/guest.wat")).expect("valid WAT");
        self.write("guest.wasm", wasm)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether golden files are being regenerated (`PRIORITY_GUARD_BLESS=1`).
pub fn blessing() -> bool {
    std::env::var_os("PRIORITY_GUARD_BLESS").is_some()
}

/// Compares `actual` with the golden file at `path`, or (re)writes the file when [`blessing`]. Returns what
/// differs, for a failure message: the golden file missing, or the first differing lines; `None` when equal or
/// written.
pub fn golden_difference(path: &Path, actual: &str) -> Option<String> {
    if blessing() {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create the golden file's folder");
        }
        std::fs::write(path, actual).expect("write the golden file");
        return None;
    }
    let expected = match std::fs::read_to_string(path) {
        Ok(expected) => expected,
        Err(e) => return Some(format!("cannot read {}: {e}", path.display())),
    };
    if expected == actual {
        return None;
    }
    let (want, got): (Vec<_>, Vec<_>) = (expected.lines().collect(), actual.lines().collect());
    let lines: Vec<String> = (0..want.len().max(got.len()))
        .filter(|&i| want.get(i) != got.get(i))
        .take(5)
        .map(|i| {
            format!(
                "line {}:\n  golden: {}\n  actual: {}",
                i + 1,
                want.get(i).unwrap_or(&"(none)"),
                got.get(i).unwrap_or(&"(none)")
            )
        })
        .collect();
    Some(format!(
        "{} differs from the output ({} vs {} lines); first differences:\n{}",
        path.display(),
        want.len(),
        got.len(),
        lines.join("\n")
    ))
}

/// Fails when `actual` differs from the golden file at `path` (see [`golden_difference`]), saying how to rewrite it.
pub fn assert_golden(path: &Path, actual: &str) {
    if let Some(difference) = golden_difference(path, actual) {
        panic!(
            "{}: {difference}\nrerun with PRIORITY_GUARD_BLESS=1 and review the diff if the change is intended",
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
        );
    }
}
