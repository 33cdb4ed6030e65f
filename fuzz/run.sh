#!/usr/bin/env bash
# Runs every fuzz target for $1 seconds (default 60), each from its kept corpus (fuzz/corpus/<target>/, in git),
# the seeds of fixtures/ (fuzz/seeds/) and the inputs that once made it fail (fuzz/regressions/<target>/), then
# minimizes the corpus (`cargo fuzz cmin`) so that what the run learned can be committed. The corpus and the
# regressions are replayed by `make test` on the ordinary build (fuzz-properties/tests/replay.rs).
# A crash stops the run with cargo-fuzz's report; its input is kept in fuzz/artifacts/<target>/. Once fixed, such
# an input goes to fuzz/regressions/<target>/ and becomes a regression test in the crate it concerns.
# $2 (optional) names the targets to run, space-separated.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
source ./targets.sh
targets=${2:-$all_targets}
for target in $targets; do
    mkdir -p "corpus/$target"
    inputs "$target"
    lengths "$target"
    # libFuzzer writes new inputs to the first directory and reads the others.
    cargo +nightly fuzz run "$target" "corpus/$target" "${dirs[@]}" -- -max_total_time="$seconds" "${length[@]}"
    cargo +nightly fuzz cmin "$target" "corpus/$target" -- "${length[@]}"
done
du -sh corpus/*
