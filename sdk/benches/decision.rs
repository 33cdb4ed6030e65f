//! The sdk's decision alone, without wasm or waPC: reading the request's fields and deciding, on the standard
//! requests of `fixtures/bench` with the README's prod/preprod/dev settings. `make bench` runs it.

#![allow(
    clippy::unwrap_used,
    reason = "a benchmark with broken fixtures should stop"
)]

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use priority_guard_sdk::{AdmissionRequestView, Settings, decide};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn settings() -> Settings {
    let text =
        std::fs::read_to_string(root().join("fixtures/prod-preprod-dev/settings.yaml")).unwrap();
    let value: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
    Settings::from_value(value).unwrap()
}

/// The `request` of each fixture, as the compact JSON policy-server sends.
fn requests() -> Vec<(String, String)> {
    let mut files: Vec<_> = std::fs::read_dir(root().join("fixtures/bench/requests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let review: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            (name, review["request"].to_string())
        })
        .collect()
}

fn decision(c: &mut Criterion) {
    let settings = settings();
    let mut group = c.benchmark_group("decide");
    for (name, request) in requests() {
        group.bench_function(&name, |b| {
            b.iter(|| {
                let view = AdmissionRequestView::from_json(black_box(&request)).unwrap();
                black_box(decide(&settings, &view, |_: &str| Ok(Default::default())).unwrap())
            });
        });
    }
    group.finish();
}

/// Reading and validating the settings, which a fresh instance does on its first request.
fn settings_text(c: &mut Criterion) {
    let text =
        std::fs::read_to_string(root().join("fixtures/prod-preprod-dev/settings.yaml")).unwrap();
    let value: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
    let json = value.to_string();
    c.bench_function("settings/prod-preprod-dev", |b| {
        b.iter(|| black_box(Settings::from_json_slice(black_box(json.as_bytes())).unwrap()));
    });
}

criterion_group!(benches, decision, settings_text);
criterion_main!(benches);
