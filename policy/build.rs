//! Links policy.wasm with a smaller stack than Rust's default of 1 MiB, so that an instance's linear memory
//! is that much smaller and cheaper to reset when a pooled instance ends: a fresh-instance Pod validate
//! measured the same to the answer with a 256 KiB stack and 320 KiB of memory, but 38.3 us instead of 33.5 us
//! with the instance's drop (best of six runs each). 64 KiB is twice what every test needs (the e2e tests pass
//! with 32 KiB): the reader skips and checks nesting without recursion, settings, requests and looked-up
//! objects are read by their schema, a few levels deep, and the e2e tests send 10,000 levels of nesting at
//! every field the policy reads. Rust's wasm targets place the stack first,
//! so an overflow would trap on an out-of-bounds access, which the host answers as a rejection; it never
//! overwrites data.
//!
//! The module starts with 192 KiB of memory (stack, 37 KB of data, and heap): the reads and defaults of the
//! standard requests fit without `memory.grow`. A default used to grow the memory to 192 KiB, and the grown
//! pages cost a fresh instance about 12 us more (instantiation 11.5 us instead of 5). Pages a request does not
//! touch cost nothing: the pooled slot is reset by its dirty pages.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-cdylib=-zstack-size=65536");
        println!("cargo:rustc-link-arg-cdylib=--initial-memory=196608");
    }
}
