#!/usr/bin/env bash
# make fuzz: builds the libFuzzer harnesses of test/fuzz/ with clang (+ASan/UBSan) and
# runs each for FUZZ_SECONDS (default 20) from its seed corpus in test/fuzz/corpus/.
# New inputs found go to build-fuzz/corpus/<name> (not into git). A crash fails the run
# and leaves its input in build-fuzz/crash-<name>-*.
#
# For long runs: FUZZ_SECONDS=36000 make fuzz, or run a harness directly:
#   build-fuzz/fuzz_rpc_frame -max_total_time=36000 -jobs=2 build-fuzz/corpus/rpc_frame test/fuzz/corpus/rpc_frame
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SECS=${FUZZ_SECONDS:-20}
OUT=build-fuzz
command -v clang >/dev/null || { echo "fuzz: clang is not installed (scripts/install-deps.sh installs it)" >&2; exit 1; }
SAN="-fsanitize=fuzzer-no-link,address,undefined"
make -s -j2 BUILD=$OUT CC=clang CXX=clang++ OPT="-O1 -g -fno-omit-frame-pointer" SAN="$SAN" WERROR= $OUT/libte.a
CFLAGS="-std=gnu11 -O1 -g -Ilib -Ilib/include -I$OUT/gen $(make -s --no-print-directory print-cflags)"
LIBS="$(make -s --no-print-directory print-libs)"
status=0
for src in test/fuzz/fuzz_*.c; do
  name=$(basename "$src" .c); short=${name#fuzz_}
  [ -n "${FUZZ_ONLY:-}" ] && [[ "$name" != *"$FUZZ_ONLY"* ]] && continue
  clang $CFLAGS -fsanitize=fuzzer,address,undefined "$src" $OUT/libte.a $LIBS -o "$OUT/$name"
  mkdir -p "$OUT/corpus/$short"
  echo "fuzz: $name for ${SECS}s"
  if ! (cd $OUT && "./$name" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -artifact_prefix="crash-$short-" \
          -print_final_stats=1 "corpus/$short" "$ROOT/test/fuzz/corpus/$short" >"$name.log" 2>&1); then
    echo "fuzz: $name FAILED (see $OUT/$name.log)"; tail -30 "$OUT/$name.log"; status=1
  else
    grep -E "stat::number_of_executed_units|stat::new_units_added" "$OUT/$name.log" | sed "s/^/fuzz: $name /"
    { grep -E "^#[0-9]+[[:space:]]+DONE" "$OUT/$name.log" || true; } | tail -1 | sed "s/^/fuzz: $name final /"
  fi
done
exit $status
