# What fuzz/run.sh and fuzz/coverage.sh share about the targets (sourced, not run). The seeds here are also in
# fuzz-properties/tests/replay.rs, which replays them.

# Every target, in the order the scripts run them.
all_targets="settings decision mutation cel wasm fast_yaml structured equivalence"

# The policy.wasm that ships (stable, wasm-opt), for the wasm and equivalence targets, not one built by the
# nightly toolchain.
make -C .. policy.wasm >/dev/null
export PRIORITY_GUARD_POLICY_WASM="$PWD/../policy.wasm"

# inputs TARGET: the directories of kept inputs after the corpus: the seeds of fixtures/ (structured and
# equivalence have none: their input chooses a random case, and any input is one) and the regressions.
inputs() {
    local -A seeds=([settings]=settings [cel]=settings [decision]=request [mutation]=request [wasm]=request [fast_yaml]=yaml)
    dirs=()
    if [ -n "${seeds[$1]:-}" ]; then dirs+=("seeds/${seeds[$1]}"); fi
    if [ -d "regressions/$1" ]; then dirs+=("regressions/$1"); fi
}

# lengths TARGET: libFuzzer's input length options, at most 4 KiB for every target.
lengths() {
    case $1 in
        # An input of structured or equivalence is a case's choices: long inputs from the start make deep cases.
        structured | equivalence) length=(-max_len=4096 -len_control=0) ;;
        # The readers' limits (nesting, quoted names and messages, libyaml's key length) are reached within
        # 4 KiB; longer requests, settings and documents repeat them and would take most of the kept corpus.
        *) length=(-max_len=4096) ;;
    esac
}
