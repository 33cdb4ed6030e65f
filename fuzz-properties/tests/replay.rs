//! Every input kept for a fuzz target, replayed through the target's properties on the ordinary build: the
//! minimized corpus of the last campaigns (`fuzz/corpus/<target>/`), the inputs that once made a target fail
//! (`fuzz/regressions/<target>/`) and the seeds (`fuzz/seeds/`). A failing input is named with its path.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use priority_guard_fuzz_properties::targets;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The seeds each target's corpus starts from (as `fuzz/run.sh` gives them). The targets whose input chooses a
/// random case start from nothing: any input is a case.
fn seeds(target: &str) -> Option<&'static str> {
    match target {
        "settings" | "cel" => Some("settings"),
        "fast_yaml" => Some("yaml"),
        "structured" | "equivalence" => None,
        _ => Some("request"),
    }
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_kept_input_holds_the_properties_of_its_target() {
    let mut failed = Vec::new();
    let mut replayed = 0;
    for (target, property) in targets() {
        let dirs = [
            Some(fuzz_dir().join("corpus").join(target)),
            Some(fuzz_dir().join("regressions").join(target)),
            seeds(target).map(|s| fuzz_dir().join("seeds").join(s)),
        ];
        for path in dirs.iter().flatten().flat_map(|d| inputs(d)) {
            // A fuzzer running beside the test replaces inputs of its corpus as it reduces them.
            let data = match std::fs::read(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                read => read.expect("read the input"),
            };
            replayed += 1;
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| property(&data))) {
                let why = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                failed.push(format!("{target}: {}: {why:.500}", path.display()));
            }
        }
    }
    println!("{replayed} kept inputs replayed");
    // The seeds alone are more than fifty; fewer means the directories moved.
    assert!(
        replayed > 50,
        "only {replayed} inputs found under {}",
        fuzz_dir().display()
    );
    assert!(
        failed.is_empty(),
        "{} inputs fail:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

/// The regressions of `../shared/fuzz-found/` (outside the repository) are in `fuzz/regressions/` too.
#[test]
fn the_inputs_found_outside_are_kept() {
    for name in ["mutation-surrogate-key-pod", "mutation-surrogate-key-rc"] {
        let kept = inputs(&fuzz_dir().join("regressions/mutation"));
        let outside = fuzz_dir().join("../../shared/fuzz-found").join(name);
        let Ok(bytes) = std::fs::read(&outside) else {
            continue;
        };
        assert!(
            kept.iter()
                .any(|p| std::fs::read(p).ok().as_deref() == Some(bytes.as_slice())),
            "{name} of ../shared/fuzz-found is not in fuzz/regressions/mutation"
        );
    }
}

/// The kept corpus stays small enough to live in git and replay in seconds: `fuzz/run.sh` minimizes it after
/// every run (`cargo fuzz cmin`); past the cap, minimize or drop the oldest inputs.
#[test]
fn the_kept_corpus_is_at_most_eight_megabytes() {
    const CAP: u64 = 8 << 20;
    let corpus = fuzz_dir().join("corpus");
    let Ok(targets) = std::fs::read_dir(&corpus) else {
        return;
    };
    let bytes: u64 = targets
        .flat_map(|t| inputs(&t.expect("a directory entry").path()))
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    assert!(bytes <= CAP, "fuzz/corpus holds {bytes} bytes, above {CAP}");
}
