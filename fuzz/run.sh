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
targets=${2:-settings decision mutation cel wasm fast_yaml structured equivalence}
# structured and equivalence have no seeds: their input chooses a random case, and any input is one.
declare -A seeds=([settings]=settings [cel]=settings [decision]=request [mutation]=request [wasm]=request [fast_yaml]=yaml)
# The wasm and equivalence targets run the policy.wasm that ships (stable, wasm-opt), not one built by the nightly toolchain.
make -C .. policy.wasm >/dev/null
export PRIORITY_GUARD_POLICY_WASM="$PWD/../policy.wasm"
for target in $targets; do
    mkdir -p "corpus/$target"
    # libFuzzer writes new inputs to the first directory and reads the others.
    extra=()
    if [ -n "${seeds[$target]:-}" ]; then extra+=("seeds/${seeds[$target]}"); fi
    if [ -d "regressions/$target" ]; then extra+=("regressions/$target"); fi
    # An input of structured or equivalence is a case's choices: long inputs from the start make deep cases.
    case $target in
        structured | equivalence) length=(-max_len=4096 -len_control=0) ;;
        # Longer requests, settings and documents repeat what shorter ones cover (the readers' limits, nesting
        # and keys, are reached within 8 KiB) and would take most of the kept corpus.
        *) length=(-max_len=8192) ;;
    esac
    cargo +nightly fuzz run "$target" "corpus/$target" "${extra[@]}" -- -max_total_time="$seconds" "${length[@]}"
    cargo +nightly fuzz cmin "$target" "corpus/$target" -- "${length[@]}"
done
du -sh corpus/*
