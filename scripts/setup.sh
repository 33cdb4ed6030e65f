#!/usr/bin/env bash
# What the builds and tests need on a fresh machine of the project's kind (Debian 12, Rust through rustup, npm),
# installed only where it is missing: a second run installs nothing and prints nothing.
#
#   scripts/setup.sh              everything `make test` needs
#   scripts/setup.sh PART...      only these parts (`make demo` and `make policy.wasm` need only `targets`)
#
# Parts:
#   targets       the wasm32-wasip1 (policy.wasm) and wasm32-unknown-unknown (playground) Rust targets
#   components    rustfmt and clippy (make lint)
#   packages      Debian's docker-registry (the push/pull test), chromium (the playground test), binaryen
#                 (wasm-opt, which makes policy.wasm smaller; the build works without it), etcd-server and
#                 openssl (the real kube-apiserver of the e2e tests), with apt-get as root, else through sudo
#   wasm-bindgen  wasm-bindgen-cli at the version of the wasm-bindgen crate pinned in web/Cargo.toml
#   npm           web/node_modules as web/package-lock.json pins it (playwright-core)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "setup: $*"; }

targets() {
  local sysroot missing=()
  sysroot=$(rustc --print sysroot)
  for target in wasm32-wasip1 wasm32-unknown-unknown; do
    [ -d "$sysroot/lib/rustlib/$target" ] || missing+=("$target")
  done
  [ ${#missing[@]} -eq 0 ] && return
  command -v rustup >/dev/null || { say "the Rust targets ${missing[*]} are missing, and rustup is not installed" >&2; exit 2; }
  say "installing the Rust targets ${missing[*]}"
  rustup target add "${missing[@]}"
}

components() {
  local missing=()
  rustfmt --version >/dev/null 2>&1 || missing+=(rustfmt)
  cargo clippy --version >/dev/null 2>&1 || missing+=(clippy)
  [ ${#missing[@]} -eq 0 ] && return
  command -v rustup >/dev/null || { say "${missing[*]} missing, and rustup is not installed" >&2; exit 2; }
  say "installing the Rust components ${missing[*]}"
  rustup component add "${missing[@]}"
}

packages() {
  local missing=() sudo=()
  # The paths the tests use (cli/tests/oci.rs, web/tests/playground.test.mjs); wasm-opt wherever it is.
  [ -x /usr/bin/docker-registry ] || missing+=(docker-registry)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v wasm-opt >/dev/null || missing+=(binaryen)
  # The real-engine tests: etcd beside ../shared/envtest's kube-apiserver, openssl for its certificates.
  command -v etcd >/dev/null || missing+=(etcd-server)
  command -v openssl >/dev/null || missing+=(openssl)
  [ ${#missing[@]} -eq 0 ] && return
  command -v apt-get >/dev/null || { say "install ${missing[*]} (Debian package names): apt-get is not available" >&2; exit 2; }
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  say "installing the Debian packages ${missing[*]} (${sudo[*]:-as root} apt-get)"
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

wasm_bindgen() {
  local version
  version=$(sed -n 's/^wasm-bindgen = "=\(.*\)"/\1/p' web/Cargo.toml)
  [ -n "$version" ] || { say "no pinned wasm-bindgen version in web/Cargo.toml" >&2; exit 2; }
  if wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $version"; then return; fi
  say "installing wasm-bindgen-cli $version (cargo install)"
  # Its own lockfile first; when the registry no longer serves a version locked there (a yanked crate), the
  # newest compatible versions.
  cargo install --locked --version "$version" wasm-bindgen-cli ||
    { say "retrying without --locked (a version its lockfile names is no longer served)"; cargo install --version "$version" wasm-bindgen-cli; }
}

npm_packages() {
  # Every package of the lockfile, at its locked version, under web/node_modules.
  if (cd web && node -e '
    const lock = require("./package-lock.json");
    for (const [path, pkg] of Object.entries(lock.packages)) {
      if (path === "") continue;
      let version;
      try { version = require("./" + path + "/package.json").version; } catch { process.exit(1); }
      if (version !== pkg.version) process.exit(1);
    }'); then
    return
  fi
  say "installing the npm packages of web/ (npm ci)"
  (cd web && npm ci --no-audit --no-fund)
}

[ $# -gt 0 ] || set -- targets components packages wasm-bindgen npm
for part in "$@"; do
  case $part in
    targets) targets ;;
    components) components ;;
    packages) packages ;;
    wasm-bindgen) wasm_bindgen ;;
    npm) npm_packages ;;
    *) say "unknown part: $part (targets, components, packages, wasm-bindgen, npm)" >&2; exit 2 ;;
  esac
done
