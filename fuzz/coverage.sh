#!/usr/bin/env bash
# The line coverage of sdk/src that each fuzz target's kept inputs reach (fuzz/corpus/<target>/, the regressions
# and the seeds), per target and per file for all targets together. Writes fuzz/coverage/report.txt.
# $1 (optional) names the targets, space-separated.
#
# Needs llvm-profdata and llvm-cov of LLVM 19 or later: rustup's llvm-tools-preview for the nightly toolchain
# (the default), or LLVM_BIN=/usr/lib/llvm-19/bin (Debian's llvm-19).
set -euo pipefail
cd "$(dirname "$0")"
source ./targets.sh
targets=${1:-$all_targets}
host=$(rustc +nightly -vV | sed -n 's/^host: //p')
llvm=${LLVM_BIN:-$(rustc +nightly --print sysroot)/lib/rustlib/$host/bin}
bin=target/$host/coverage/$host/release
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
    # Then the corpus, the seeds and the regressions in one process, into one profile.
    inputs "$target"
    rm -f "coverage/$target.profraw"
    LLVM_PROFILE_FILE="coverage/$target.profraw" "$bin/$target" -runs=0 "corpus/$target" "${dirs[@]}" >/dev/null 2>&1
    "$llvm/llvm-profdata" merge -sparse "coverage/$target.profraw" -o "coverage/$target.profdata"
    objects+=(-object "$bin/$target")
    profiles+=("coverage/$target.profdata")
    printf '%-12s %s\n' "$target" "$("$llvm/llvm-cov" report "$bin/$target" -instr-profile="coverage/$target.profdata" \
        "${sources[@]}" | grep '^TOTAL')" | tee -a coverage/report.txt
done
"$llvm/llvm-profdata" merge -sparse "${profiles[@]}" -o coverage/all.profdata
"$llvm/llvm-cov" report "${objects[@]:1}" -instr-profile=coverage/all.profdata "${sources[@]}" \
    | sed "s|$root/||" | tee -a coverage/report.txt
