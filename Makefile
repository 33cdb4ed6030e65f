# priority-guard: build, demo and test. `make demo` and `make test` are the README's two commands.

CARGO ?= cargo
WASM_TARGET_DIR := target/policy-wasm
WASM_OUT := $(WASM_TARGET_DIR)/wasm32-wasip1/release/priority_guard_policy.wasm
CLI := target/debug/priority-guard

.PHONY: demo test targets lint policy.wasm annotated-policy.wasm cli bench-check clean

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

## The speed of `priority-guard check` (README "Speed"): 100,000 generated Deployments, optimised build. Its own
## target directory, so that it does not hold the lock of target/ while the dev builds and tests run.
bench-check:
	$(CARGO) build --release -p priority-guard-cli --target-dir target/bench
	target/bench/release/priority-guard check --settings fixtures/prod-preprod-dev/settings.yaml --bench-corpus 100000

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

## Every test: formatting, lints, unit, table, e2e (policy.wasm under wasmtime).
test: targets lint
	$(CARGO) test --workspace

clean:
	$(CARGO) clean
	rm -f policy.wasm annotated-policy.wasm
