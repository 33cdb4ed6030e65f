# priority-guard: build, demo and test. `make demo` and `make test` are the README's two commands.

CARGO ?= cargo
WASM_TARGET_DIR := target/policy-wasm
WASM_OUT := $(WASM_TARGET_DIR)/wasm32-wasip1/release/priority_guard_policy.wasm
CLI := target/debug/priority-guard

.PHONY: demo test targets lint policy.wasm annotated-policy.wasm cli bench-check bench-cel differential clean

## The wasm targets a fresh machine lacks (a no-op once installed).
targets:
	rustup target add wasm32-wasip1 wasm32-unknown-unknown

## policy.wasm: wasm32-wasip1, release (opt-level s, lto, one codegen unit, stripped, panic=abort).
## The e2e tests' build.rs uses the same target directory, so the module is built once.
policy.wasm: targets
	$(CARGO) build --release --target wasm32-wasip1 -p priority-guard-policy --target-dir $(WASM_TARGET_DIR)
	cp $(WASM_OUT) policy.wasm

cli:
	$(CARGO) build -p priority-guard-cli

## policy.wasm with its Kubewarden metadata (and this README as usage) in the io.kubewarden.metadata section.
annotated-policy.wasm: policy.wasm cli
	$(CLI) annotate -m metadata.yml -u README.md -o annotated-policy.wasm policy.wasm

## The main job on the built-in example: the prod/preprod/dev settings and requests under wasmtime.
demo: annotated-policy.wasm
	scripts/demo.sh $(CLI) annotated-policy.wasm fixtures/prod-preprod-dev
	@echo
	@echo "== the same settings as Kubernetes admission policies (priority-guard vap)"
	$(CLI) vap --settings fixtures/prod-preprod-dev/settings.yaml

## The speed of `priority-guard check` (README "Speed"): 100,000 generated Deployments, optimised build. Its own
## target directory, so that it does not hold the lock of target/ while the dev builds and tests run.
bench-check:
	$(CARGO) build --release -p priority-guard-cli --target-dir target/bench
	target/bench/release/priority-guard check --settings fixtures/prod-preprod-dev/settings.yaml --bench-corpus 100000

## The CEL cost of the generated admission policies for 3, 10 and 100 rules (README "Native admission policies").
## A report from an upper-bound estimate, built in the dev profile like the tests.
bench-cel:
	$(CARGO) run -p priority-guard-e2e-tests --example cel_cost

## The differential suite on demand with more cases than CI runs (DIFF_CASES, DIFF_SEED to change them).
DIFF_CASES ?= 200000
DIFF_SEED ?= 0x5eed2026
differential:
	PRIORITY_GUARD_DIFF_CASES=$(DIFF_CASES) PRIORITY_GUARD_DIFF_SEED=$(DIFF_SEED) \
	  $(CARGO) test -p priority-guard-e2e-tests --test e2e differential -- --nocapture

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

## Every test: formatting, lints, unit, table, e2e (policy.wasm under wasmtime).
test: targets lint
	$(CARGO) test --workspace

clean:
	$(CARGO) clean
	rm -f policy.wasm annotated-policy.wasm
