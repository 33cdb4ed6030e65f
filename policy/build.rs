//! Links policy.wasm with a smaller stack than Rust's default of 1 MiB, so that an instance's linear memory
//! is that much smaller. 256 KiB is many times what the deepest parse needs: serde_json stops nesting at 128
//! levels, and the e2e tests send 10,000 levels of nesting at every field the policy reads.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-cdylib=-zstack-size=262144");
    }
}
