//! Builds policy.wasm (wasm32-wasip1, release) for the e2e tests, the way wasmtime's test-programs do, and hands
//! its path to the tests as `POLICY_WASM`. Set `PRIORITY_GUARD_POLICY_WASM` to test a module built elsewhere.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PRIORITY_GUARD_POLICY_WASM");
    if let Ok(path) = std::env::var("PRIORITY_GUARD_POLICY_WASM") {
        println!("cargo:rustc-env=POLICY_WASM={path}");
        return;
    }
    let manifest_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .expect("e2e-tests is inside the workspace")
        .to_path_buf();
    // `.cargo/config.toml` holds policy.wasm's rustflags (simd128).
    for dir in ["sdk", "policy", ".cargo"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.lock").display()
    );
    // A target directory of its own: the outer cargo holds the lock on the main one. `make policy.wasm` uses
    // the same directory, so the module is built once.
    let target_dir = root.join("target").join("policy-wasm");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&root)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip1",
            "-p",
            "priority-guard-policy",
            "--target-dir",
        ])
        .arg(&target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_MAKEFLAGS")
        .status()
        .expect("cargo runs");
    assert!(
        status.success(),
        "building policy.wasm failed; is the wasm32-wasip1 target installed (rustup target add wasm32-wasip1)?"
    );
    let wasm = target_dir.join("wasm32-wasip1/release/priority_guard_policy.wasm");
    let wasm = optimised(&wasm).unwrap_or(wasm);
    println!("cargo:rustc-env=POLICY_WASM={}", wasm.display());
}

/// `wasm-opt -Os` of the module when binaryen's wasm-opt is installed, as `make policy.wasm` does, so that
/// the tests run the module that ships. `None` when there is no wasm-opt.
fn optimised(wasm: &std::path::Path) -> Option<PathBuf> {
    let found = Command::new("wasm-opt")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        println!("cargo:warning=wasm-opt not found: testing policy.wasm without wasm-opt -Os");
        return None;
    }
    let out = wasm.with_file_name("priority_guard_policy.opt.wasm");
    let status = Command::new("wasm-opt")
        .args([
            "-Os",
            "--enable-bulk-memory",
            "--enable-sign-ext",
            "--enable-mutable-globals",
            "--enable-nontrapping-float-to-int",
            "--enable-multivalue",
            "--enable-reference-types",
            "--enable-simd",
        ])
        .arg(wasm)
        .arg("-o")
        .arg(&out)
        .status()
        .expect("wasm-opt runs");
    assert!(status.success(), "wasm-opt failed on {}", wasm.display());
    Some(out)
}
