#!/bin/sh
# Builds one man page from its source: gen-man.sh TASKEXECUTORD VERSION SRC.in OUT
# Replaces @VERSION@, and a line holding only @CONFIG_KEYS@ with the key reference
# printed by `taskexecutord --print-man-keys` (generated from the same key table the
# configuration parser uses, so the page cannot drift from the parser).
set -eu
daemon=$1 version=$2 src=$3 out=$4
keys=$(mktemp)
trap 'rm -f "$keys"' EXIT
"$daemon" --print-man-keys >"$keys"
awk -v keys="$keys" -v version="$version" '
  $0 == "@CONFIG_KEYS@" { while ((getline line < keys) > 0) print line; close(keys); next }
  { gsub(/@VERSION@/, version); print }' "$src" >"$out.tmp"
mv "$out.tmp" "$out"
