#!/usr/bin/env bash
# The README's configuration key table is generated from the key table the parser uses
# (lib/common/config_keys.def) by `taskexecutord --print-readme-keys`; it sits between
# the lines `<!-- keys:begin -->` and `<!-- keys:end -->` of README.md.
#   bash scripts/readme-keys.sh BUILD          rewrite README.md's table
#   bash scripts/readme-keys.sh BUILD --check  exit 1 (with a diff) when it differs
set -euo pipefail
BUILD=${1:?usage: readme-keys.sh BUILD [--check]}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
README="$ROOT/README.md"
tmp=$(mktemp)
trap 'rm -f "$tmp" "$tmp.table"' EXIT
"$BUILD/taskexecutord" --print-readme-keys >"$tmp.table"
awk -v table="$tmp.table" '
  /^<!-- keys:begin -->$/ { print; while ((getline line < table) > 0) print line; skip = 1; found++; next }
  /^<!-- keys:end -->$/   { skip = 0; found++ }
  !skip { print }
  END { if (found != 2) { print "README.md lacks the <!-- keys:begin --> / <!-- keys:end --> lines" > "/dev/stderr"; exit 2 } }
' "$README" >"$tmp"
if [ "${2:-}" = "--check" ]; then
  if ! cmp -s "$tmp" "$README"; then
    diff -u "$README" "$tmp" || true
    echo "README.md's key table differs from 'taskexecutord --print-readme-keys': run make readme-keys" >&2
    exit 1
  fi
  exit 0
fi
cp "$tmp" "$README"
