#!/usr/bin/env bash
# Generates the code derived from the API types (api/*/v1alpha1) with
# k8s.io/code-generator: DeepCopy methods, and the client-go clientset,
# listers and informers under pkg/generated.
#
#   hack/codegen.sh           regenerate in place
#   hack/codegen.sh --verify  regenerate in a copy of the tree and fail if
#                             anything differs from what is checked in
set -euo pipefail

CODEGEN_VERSION=v0.37.2
MODULE=pkgserver.dev/pkgserver
ROOT=$(cd "$(dirname "$0")/.." && pwd)
GO=${GO:-go}

generate() {
  local dir=$1
  cd "$dir"
  local gen="$GO run k8s.io/code-generator/cmd"
  local out=pkg/generated
  # "Resources" is already plural: not packagerevisionresourceses.
  local plural=--plural-exceptions=PackageRevisionResources:PackageRevisionResources
  rm -rf "$out/clientset" "$out/listers" "$out/informers"

  $gen/deepcopy-gen@$CODEGEN_VERSION --output-file zz_generated.deepcopy.go \
    --go-header-file /dev/null ./api/config/v1alpha1 ./api/pkg/v1alpha1

  $gen/client-gen@$CODEGEN_VERSION --go-header-file /dev/null \
    --output-dir "$out/clientset" --output-pkg "$MODULE/$out/clientset" \
    --clientset-name versioned --input-base "$MODULE/api" "$plural" \
    --input config/v1alpha1 --input pkg/v1alpha1

  $gen/lister-gen@$CODEGEN_VERSION --go-header-file /dev/null \
    --output-dir "$out/listers" --output-pkg "$MODULE/$out/listers" "$plural" \
    "$MODULE/api/config/v1alpha1" "$MODULE/api/pkg/v1alpha1"

  $gen/informer-gen@$CODEGEN_VERSION --go-header-file /dev/null \
    --output-dir "$out/informers" --output-pkg "$MODULE/$out/informers" "$plural" \
    --versioned-clientset-package "$MODULE/$out/clientset/versioned" \
    --listers-package "$MODULE/$out/listers" \
    "$MODULE/api/config/v1alpha1" "$MODULE/api/pkg/v1alpha1"
}

if [[ "${1:-}" != "--verify" ]]; then
  generate "$ROOT"
  exit 0
fi

# Verify in a copy, so a stale tree is reported and left untouched.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$ROOT" && git ls-files --cached --others --exclude-standard -z | xargs -0 cp --parents -t "$tmp" 2>/dev/null || true)
(generate "$tmp")
status=0
for d in api pkg/generated; do
  if ! diff -r -u "$ROOT/$d" "$tmp/$d"; then
    status=1
  fi
done
if [[ $status -ne 0 ]]; then
  echo "generated code is out of date: run make generate" >&2
fi
exit $status
