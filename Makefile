# priority-guard: build, demo and test. `make demo` and `make test` are the README's two commands.

CARGO ?= cargo
WASM_TARGET_DIR := target/policy-wasm
WASM_OUT := $(WASM_TARGET_DIR)/wasm32-wasip1/release/priority_guard_policy.wasm
CLI := target/debug/priority-guard
# The playground: the facade built for wasm32-unknown-unknown in policy.wasm's target directory (the host-side
# proc-macros, built in release for both, are shared), then wasm-bindgen of the same version as the crate
# (scripts/setup.sh installs it).
WEB_WASM := $(WASM_TARGET_DIR)/wasm32-unknown-unknown/release/priority_guard_web.wasm
WEB_OUT := target/playground

.PHONY: demo test setup targets lint policy.wasm annotated-policy.wasm cli bench bench-check bench-report bench-cel differential fuzz fuzz-coverage clean web web-test artifacthub-pkg.yml

## What `make test` needs on a fresh machine (Debian 12, Rust through rustup, npm), installed only where it is
## missing: the wasm targets, rustfmt and clippy, Debian's docker-registry, chromium and binaryen, wasm-bindgen-cli
## at the version pinned in web/Cargo.toml, and the npm packages of web/. Silent when everything is there.
setup:
	@scripts/setup.sh

## The wasm targets alone (all that `make demo` needs to install).
targets:
	@scripts/setup.sh targets

## policy.wasm: wasm32-wasip1 with Wasm SIMD (simd128, set in .cargo/config.toml), release (opt-level s with the
## sdk at 3, lto, one codegen unit, stripped, panic=abort, a 64 KiB stack in 192 KiB of initial memory), then
## `wasm-opt -Os` when binaryen is installed (Debian: apt-get install binaryen), else as built.
## The e2e tests' build.rs uses the same target directory and the same wasm-opt step, so they test this module.
WASM_OPT_FLAGS := -Os --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
	--enable-nontrapping-float-to-int --enable-multivalue --enable-reference-types --enable-simd
policy.wasm: targets
	$(CARGO) build --release --target wasm32-wasip1 -p priority-guard-policy --target-dir $(WASM_TARGET_DIR)
	if command -v wasm-opt >/dev/null; then wasm-opt $(WASM_OPT_FLAGS) $(WASM_OUT) -o policy.wasm; \
	else echo "wasm-opt not found: policy.wasm is not size-optimised" >&2; cp $(WASM_OUT) policy.wasm; fi

## The CLI as the demo runs it: without the `oci` feature (push and pull, the registry client with its HTTP and
## TLS stack), which the demo does not use. `cargo build` and `cargo install` build the full CLI.
cli:
	$(CARGO) build -p priority-guard-cli --no-default-features

## policy.wasm with its Kubewarden metadata and usage text (docs/policy-usage.md, what `kwctl inspect` shows) in
## the io.kubewarden.metadata section.
annotated-policy.wasm: policy.wasm cli
	$(CLI) annotate -m metadata.yml -u docs/policy-usage.md -o annotated-policy.wasm policy.wasm

## artifacthub-pkg.yml from metadata.yml. createdAt is kept from the committed file unless CREATED_AT is given
## (set it to the release time when the version changes): the file is the same on every run.
CREATED_AT ?= $(shell sed -n 's/^createdAt: //p' artifacthub-pkg.yml)
artifacthub-pkg.yml: cli
	$(CLI) scaffold artifacthub -m metadata.yml --created-at "$(CREATED_AT)" -o artifacthub-pkg.yml

## The browser playground, as static files in target/playground/ (serve it with any static server).
web: targets
	@scripts/setup.sh wasm-bindgen
	$(CARGO) build --release --target wasm32-unknown-unknown -p priority-guard-web --target-dir $(WASM_TARGET_DIR)
	rm -rf $(WEB_OUT)
	wasm-bindgen --target web --no-typescript --out-dir $(WEB_OUT)/pkg $(WEB_WASM)
	cp web/www/index.html web/www/style.css web/www/app.js $(WEB_OUT)/

## The playground and the html page of `priority-guard report` (written here from the CLI's report fixture) in
## Debian's Chromium (playwright-core); screenshots in target/playground-test/ and target/report-html/.
web-test: web cli
	@scripts/setup.sh packages npm
	mkdir -p target/report-html
	$(CLI) report --settings fixtures/prod-preprod-dev/settings.yaml \
		--cluster-state cli/tests/report-fixtures/cluster.json --format html -o target/report-html/report.html \
		|| test $$? -eq 1
	cd web && npm test

## The main job on the built-in example: the prod/preprod/dev settings and requests under wasmtime.
demo: annotated-policy.wasm
	scripts/demo.sh $(CLI) annotated-policy.wasm fixtures/prod-preprod-dev
	@echo
	@echo "== the same settings as Kubernetes admission policies (priority-guard vap)"
	$(CLI) vap --settings fixtures/prod-preprod-dev/settings.yaml

## The speed of policy.wasm under the host (docs/performance.md): the standard requests of fixtures/bench,
## hot and with a fresh instance per request, then criterion benchmarks of the sdk's decision alone. An
## optimised CLI (the host, profile host-release: opt-level 3 without LTO), built once into target/host-release;
## never part of `make test`.
BENCH_ITERATIONS ?= 5000
bench: policy.wasm
	$(CARGO) build --profile host-release -p priority-guard-cli
	target/host-release/priority-guard bench --settings fixtures/prod-preprod-dev/settings.yaml \
		--requests fixtures/bench/requests --iterations $(BENCH_ITERATIONS) --instance-per-request policy.wasm
	$(CARGO) bench -p priority-guard-sdk --bench decision

## The fuzz targets of fuzz/ (cargo-fuzz, nightly), each for FUZZ_SECONDS, seeded from fixtures/.
FUZZ_SECONDS ?= 60
fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	fuzz/run.sh $(FUZZ_SECONDS)

## The line coverage of sdk/src that the kept fuzz corpus reaches, per target and per file (LLVM 19 or later's
## llvm-cov: rustup's llvm-tools-preview for nightly, or LLVM_BIN).
fuzz-coverage:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	fuzz/coverage.sh

## The speed of `priority-guard check` (docs/performance.md): 100,000 generated Deployments, optimised build. Its own
## target directory, so that it does not hold the lock of target/ while the dev builds and tests run.
bench-check:
	$(CARGO) build --profile host-release -p priority-guard-cli --target-dir target/bench
	target/bench/host-release/priority-guard check --settings fixtures/prod-preprod-dev/settings.yaml --bench-corpus 100000

## The speed and memory of `priority-guard report` (docs/performance.md): a generated dump of 100,000 Pods and
## 10,000 workloads in 500 namespaces, reported on one core (taskset) by the optimised build, with its maximum
## resident memory (GNU time). In target/bench like bench-check, without the `cluster` feature (kube-rs), which
## reading a dump does not use.
BENCH_REPORT_PODS ?= 100000
BENCH_REPORT_DUMP := target/bench/report-dump.json
bench-report:
	$(CARGO) build --profile host-release -p priority-guard-cli --no-default-features --target-dir target/bench
	target/bench/host-release/priority-guard report --settings fixtures/prod-preprod-dev/settings.yaml \
		--bench-dump $(BENCH_REPORT_PODS) -o $(BENCH_REPORT_DUMP)
	ls -l $(BENCH_REPORT_DUMP)
	for format in json text; do /usr/bin/time -f "$$format: %e s elapsed, %U s user, %M KB max RSS" \
		taskset -c 0 target/bench/host-release/priority-guard report \
		--settings fixtures/prod-preprod-dev/settings.yaml --cluster-state $(BENCH_REPORT_DUMP) \
		--format $$format -o target/bench/report.$$format || test $$? -le 3; done

## The CEL cost of the generated admission policies for 3, 10 and 100 rules (docs/native-policies.md).
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
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc -p priority-guard-sdk --no-deps

## Every test: formatting, lints, unit, table, e2e (policy.wasm under wasmtime, push/pull through a local
## registry), and the playground in a browser (docs/testing.md), after installing what is missing (`setup`).
test: setup lint
	$(CARGO) test --workspace
	$(MAKE) web-test

clean:
	$(CARGO) clean
	rm -f policy.wasm annotated-policy.wasm
