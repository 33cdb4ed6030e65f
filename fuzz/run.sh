#!/usr/bin/env bash
# Runs every fuzz target for $1 seconds (default 60), each from a corpus seeded with fixtures/ (fuzz/seeds/).
# A crash stops the run with cargo-fuzz's report; its input is kept in fuzz/artifacts/<target>/. Once fixed, such
# an input goes to fuzz/regressions/<target>/, which seeds the corpus and is replayed by the crates' tests.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
declare -A seeds=([settings]=settings [cel]=settings [decision]=request [mutation]=request)
for target in settings decision mutation cel; do
    mkdir -p "corpus/$target"
    cp -n seeds/"${seeds[$target]}"/* "corpus/$target/"
    # Inputs that once made the target fail stay in its corpus (regressions/<target>/).
    if [ -d "regressions/$target" ]; then cp -n "regressions/$target"/* "corpus/$target/"; fi
    cargo +nightly fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -max_len=65536
done
