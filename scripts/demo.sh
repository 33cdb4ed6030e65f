#!/usr/bin/env bash
# Runs every example request of a scenario through the policy under wasmtime, the way `kwctl run` would, and
# prints each verdict, message and JSON patch.
set -euo pipefail
cli=$1 policy=$2 scenario=$3
echo "== settings ($scenario/settings.yaml)"
cat "$scenario/settings.yaml"
echo
for request in "$scenario"/requests/*.json; do
  name=$(basename "$request" .json)
  response=$("$cli" run --request-path "$request" --settings-path "$scenario/settings.yaml" \
    --cluster-state "$scenario/cluster.yaml" --allow-context-aware-resources "$policy")
  allowed=$(printf '%s' "$response" | sed -n 's/.*"allowed":\(true\|false\).*/\1/p')
  patch=$(printf '%s' "$response" | sed -n 's/.*"patch":"\([^"]*\)".*/\1/p')
  message=$(printf '%s' "$response" | sed -n 's/.*"message":"\(\([^"\\]\|\\.\)*\)".*/\1/p')
  if [ "$allowed" = false ]; then
    verdict=DENIED
  elif [ -n "$patch" ]; then
    verdict=MUTATED
  else
    verdict=ALLOWED
  fi
  printf '%-52s %s\n' "$name" "$verdict"
  if [ -n "$message" ]; then
    printf '    message: %s\n' "$(printf '%s' "$message" | sed 's/\\"/"/g')"
  fi
  if [ -n "$patch" ]; then
    printf '    patch:   %s\n' "$(printf '%s' "$patch" | base64 -d)"
  fi
done
