//! Every input kept for a fuzz target, replayed through the target's properties on the ordinary build: the
//! minimized corpus of the last campaigns (`fuzz/corpus/<target>/`), the inputs that once made a target fail
//! (`fuzz/regressions/<target>/`) and the seeds (`fuzz/seeds/`). A failing input is named with its path.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use priority_guard_fuzz_properties::{Property, targets};

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

/// Why a property panicked.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

#[test]
fn every_kept_input_holds_the_properties_of_its_target() {
    let mut jobs: Vec<(&str, Property, PathBuf)> = Vec::new();
    let mut without_corpus = Vec::new();
    // `PRIORITY_GUARD_REPLAY=wasm,equivalence` replays those targets only.
    let only = std::env::var("PRIORITY_GUARD_REPLAY").ok();
    let chosen = |target: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|t| t == target))
    };
    for (target, property) in targets().into_iter().filter(|(t, _)| chosen(t)) {
        let corpus = inputs(&fuzz_dir().join("corpus").join(target));
        if corpus.is_empty() {
            without_corpus.push(target);
        }
        let others = [
            Some(fuzz_dir().join("regressions").join(target)),
            seeds(target).map(|s| fuzz_dir().join("seeds").join(s)),
        ];
        jobs.extend(
            corpus
                .into_iter()
                .chain(others.iter().flatten().flat_map(|d| inputs(d)))
                .map(|path| (target, property, path)),
        );
    }
    // The inputs on every core: equivalence's compile CEL and run policy.wasm, tens of milliseconds each.
    let next = AtomicUsize::new(0);
    let failed = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while let Some((target, property, path)) =
                    jobs.get(next.fetch_add(1, Ordering::Relaxed))
                {
                    // A fuzzer running beside the test replaces inputs of its corpus as it reduces them.
                    let data = match std::fs::read(path) {
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        read => read.expect("read the input"),
                    };
                    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| property(&data))) {
                        let why = panic_message(panic.as_ref());
                        let failure = format!("{target}: {}: {why:.500}", path.display());
                        failed
                            .lock()
                            .expect("no worker panics holding the lock")
                            .push(failure);
                    }
                }
            });
        }
    });
    let mut failed = failed.into_inner().expect("the workers are done");
    failed.sort();
    println!("{} kept inputs replayed on {workers} threads", jobs.len());
    // The seeds alone are more than fifty; fewer means the directories moved.
    assert!(
        jobs.len() > 50 || only.is_some(),
        "only {} inputs found under {}",
        jobs.len(),
        fuzz_dir().display()
    );
    // The corpus is what the campaigns learned: a target without one (not committed, or ignored by git) guards
    // nothing beyond its seeds.
    assert!(
        without_corpus.is_empty(),
        "no kept corpus under fuzz/corpus/ for {without_corpus:?}"
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
