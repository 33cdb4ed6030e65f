#!/usr/bin/env bash
# The line coverage of sdk/src that each fuzz target's kept inputs reach (fuzz/corpus/<target>/, the regressions
# and the seeds), per target and per file for all targets together. Writes fuzz/coverage/report.txt.
# $1 (optional) names the targets, space-separated.
#
# Needs llvm-profdata and llvm-cov of LLVM 19 or later: rustup's llvm-tools-preview for the nightly toolchain
# (the default), or LLVM_BIN=/usr/lib/llvm-19/bin (Debian's llvm-19).
set -euo pipefail
cd "$(dirname "$0")"
targets=${1:-settings decision mutation cel wasm fast_yaml structured equivalence}
host=$(rustc +nightly -vV | sed -n 's/^host: //p')
llvm=${LLVM_BIN:-$(rustc +nightly --print sysroot)/lib/rustlib/$host/bin}
bin=target/$host/coverage/$host/release
declare -A seeds=([settings]=settings [cel]=settings [decision]=request [mutation]=request [wasm]=request [fast_yaml]=yaml)
make -C .. policy.wasm >/dev/null
export PRIORITY_GUARD_POLICY_WASM="$PWD/../policy.wasm"
root=$(cd .. && pwd)
mapfile -t sources < <(find "$root/sdk/src" -name '*.rs' | sort)
mkdir -p coverage/one-input
: >coverage/one-input/empty
objects=()
profiles=()
: >coverage/report.txt
for target in $targets; do
    # Builds the target with -Cinstrument-coverage, running it on one empty input.
    cargo +nightly fuzz coverage --llvm-path "$llvm" "$target" coverage/one-input >/dev/null 2>&1
    # Then the kept inputs in one process: `cargo fuzz coverage` starts a process per input, and each would
    # compile policy.wasm again (wasm, equivalence).
    dirs=("corpus/$target")
    if [ -n "${seeds[$target]:-}" ]; then dirs+=("seeds/${seeds[$target]}"); fi
    if [ -d "regressions/$target" ]; then dirs+=("regressions/$target"); fi
    rm -f "coverage/$target.profraw"
    LLVM_PROFILE_FILE="coverage/$target.profraw" "$bin/$target" -runs=0 "${dirs[@]}" >/dev/null 2>&1
    "$llvm/llvm-profdata" merge -sparse "coverage/$target.profraw" -o "coverage/$target.profdata"
    objects+=(-object "$bin/$target")
    profiles+=("coverage/$target.profdata")
    printf '%-12s %s\n' "$target" "$("$llvm/llvm-cov" report "$bin/$target" -instr-profile="coverage/$target.profdata" \
        "${sources[@]}" | grep '^TOTAL')" | tee -a coverage/report.txt
done
"$llvm/llvm-profdata" merge -sparse "${profiles[@]}" -o coverage/all.profdata
"$llvm/llvm-cov" report "${objects[@]:1}" -instr-profile=coverage/all.profdata "${sources[@]}" \
    | sed "s|$root/||" | tee -a coverage/report.txt
