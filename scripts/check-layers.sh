#!/usr/bin/env bash
# Keeps the include graph inside the layers of DESIGN.md section 1: maps every
# `#include "..."` of lib/ and daemon/ to the folder it names and fails on an edge that
# is not listed below, on an include that is not rooted at lib/ ("common/log.h", not
# "log.h" or "../common/log.h"), and on a folder the list does not know.
#   bash scripts/check-layers.sh [root]     (run by `make test`)
#
# The layers, each using only those below it (DESIGN.md section 1):
#   common <- shuffle, state, rpc <- net, runtime <- task <- slots, status <- executor
#   <- daemon/; operators use only the ABI (include/te/operator.h); jobmaster uses
#   common, rpc and the generated proto; cluster uses jobmaster, rpc, status.
# `te` is the ABI header (self-contained); `proto` the generated rpc.pb-c.h /
# tdd.pb-c.h (pure data, no engine code).
#
# Edges the design does not draw, each with its reason:
#   shuffle -> te      channel_selector hashes by the record field rule the ABI defines
#                      (te_record_field), so a keyed operator and the partitioner agree
#   shuffle -> proto   shuffle_env builds a task's partitions and gates from the TDD's
#                      partition and gate descriptors (as Flink's ShuffleEnvironment),
#                      and the partitioner enum is the proto's
#   runtime -> te      the runtime is the host side of the operator ABI
#   task -> proto      the Task is built from its TaskDeploymentDescriptor
#   executor -> operators
#                      the executor assembles the engine: executor_operators.c gives
#                      each Task the built-in registry and the plugin loader as its
#                      operator resolver (task.h's te_operator_resolver_t), the status
#                      views list the operators, and plugins are unloaded at exit
#   common -> te       the row format (te/row.h, self-contained) is the records' format:
#                      common/schema converts and checks schemas of it
#   jobmaster -> te    job graphs and plans carry every edge's schema (te/row.h)
#   jobmaster -> operators
#                      job_schema derives a job's schemas before any task starts by
#                      running each built-in operator's setup against a planning API
#                      (the scheduler must know what each operator declares)
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$ROOT"

declare -A ALLOWED=(
  [common]="te"
  [te]=""
  [shuffle]="common te proto"
  [state]="common"
  [rpc]="common proto"
  [net]="common shuffle state rpc"
  [runtime]="common shuffle state rpc te"
  [task]="common shuffle state rpc net runtime te proto"
  [slots]="common shuffle state rpc net runtime task te proto"
  [status]="common shuffle state rpc net runtime task te proto"
  [executor]="common shuffle state rpc net runtime task slots status te proto operators"
  [operators]="te"
  [jobmaster]="common rpc proto te operators"
  [cluster]="common rpc proto jobmaster status"
  [daemon]="common shuffle state rpc net runtime task slots status executor te proto jobmaster cluster"
)

layer_of() { # path of a source file -> its layer
  case "$1" in
    daemon/*) echo daemon ;;
    lib/include/te/*) echo te ;;
    lib/*/*) local rest=${1#lib/}; echo "${rest%%/*}" ;;
    *) echo "?" ;;
  esac
}

bad=0
edges=0
while IFS= read -r f; do
  from=$(layer_of "$f")
  if [[ -z ${ALLOWED[$from]+x} ]]; then
    echo "check-layers: $f: folder '$from' is not a layer of DESIGN.md section 1 (add it to scripts/check-layers.sh)"
    bad=1
    continue
  fi
  while IFS=: read -r line inc; do
    case "$inc" in
      *.pb-c.h) to=proto ;;
      te/*) to=te ;;
      ../*|./*|*/../*) echo "check-layers: $f:$line: #include \"$inc\" is not rooted at lib/"; bad=1; continue ;;
      */*) to=${inc%%/*} ;;
      *) # daemon/ is not under lib/: its own headers sit beside its programs
         if [[ $from == daemon && -f "daemon/$inc" ]]; then to=daemon; else
           echo "check-layers: $f:$line: #include \"$inc\" is not rooted at lib/ (write \"$from/$inc\")"; bad=1; continue
         fi ;;
    esac
    edges=$((edges + 1))
    [[ "$to" == "$from" ]] && continue
    if [[ " ${ALLOWED[$from]} " != *" $to "* ]]; then
      echo "check-layers: $f:$line: $from -> $to (#include \"$inc\") is not an allowed edge; allowed from $from: ${ALLOWED[$from]:-nothing}"
      bad=1
    fi
  done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" | sed -E 's/^([0-9]+):.*"([^"]+)".*/\1:\2/')
done < <(find lib daemon -name '*.[ch]' | sort)

if [[ $bad -ne 0 ]]; then
  echo "check-layers: FAILED (see DESIGN.md section 1 and the list in scripts/check-layers.sh)"
  exit 1
fi
echo "check-layers: $edges includes, every edge allowed"
