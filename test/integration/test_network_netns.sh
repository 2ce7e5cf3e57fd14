# Word count across 3 daemons in 3 network namespaces (10.77.0.1-3, veth pairs joined
# by a bridge in a 4th namespace): the data really crosses interfaces other than
# loopback. Equals the coreutils result. Needs root and working network namespaces;
# probes them first (root in a plain chroot can add a namespace but not enter it: `ip -n`
# fails there) and skips with the reason. Namespaces are removed at exit.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
TAG="te$$"
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, veth pairs)"
command -v ip >/dev/null || skip "ip (iproute2) is not installed"
# The probe does, in a namespace of its own, each kind of thing the test does.
netns_probe() {
  local p="${TAG}p"
  ip netns add "$p" && ip -n "$p" link set lo up && ip -n "$p" link add br0 type bridge &&
    ip -n "$p" link add v0 type veth peer name v1 && ip -n "$p" link set v1 master br0 &&
    ip netns exec "$p" true
  local rc=$?
  ip netns del "$p" 2>/dev/null
  return $rc
}
why=$(netns_probe 2>&1) || skip "network namespaces do not work here: $(tail -n 1 <<<"$why")"
NS=("${TAG}h" "${TAG}1" "${TAG}2" "${TAG}3")
ns_cleanup() {
  local p
  for p in "${NSPIDS[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null; done
  sleep 0.3
  for p in "${NSPIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null; done
  for n in "${NS[@]}"; do ip netns del "$n" 2>/dev/null; done
}
NSPIDS=()
trap 'rc=$?; ns_cleanup; (exit $rc); cleanup_daemons' EXIT # cleanup_daemons exits with $?
ip netns add "${NS[0]}" || fail "cannot create a network namespace (the probe could)"
ip -n "${NS[0]}" link add br0 type bridge && ip -n "${NS[0]}" link set br0 up || fail "cannot create a bridge"
for i in 1 2 3; do
  n=${NS[$i]}
  ip netns add "$n"
  ip link add "${TAG}v$i" netns "$n" type veth peer name "p$i" netns "${NS[0]}" || fail "cannot create veth pair $i"
  ip -n "${NS[0]}" link set "p$i" master br0 up
  ip -n "$n" link set "${TAG}v$i" name eth0
  ip -n "$n" addr add "10.77.0.$i/24" dev eth0
  ip -n "$n" link set eth0 up
  ip -n "$n" link set lo up
done
INPUT=/usr/share/common-licenses/GPL-3
[ -r "$INPUT" ] || INPUT=$(ls /usr/share/common-licenses/* | head -1)
RPCS=()
for i in 1 2 3; do
  log="$WORK/d$i.log"
  ip netns exec "${NS[$i]}" "$DAEMON" -D taskmanager.rpc.port=0 -D taskmanager.data.port=0 -D taskmanager.status.port=0 \
    -D taskmanager.bind-host=10.77.0.$i -D taskmanager.host=10.77.0.$i -D taskmanager.numberOfTaskSlots=2 >"$log" 2>&1 &
  NSPIDS+=($!)
  LOGS+=("$log")
  wait_until 10 grep -q ' READY ' "$log" || { cat "$log"; fail "daemon in ${NS[$i]} never logged READY"; }
  RPCS+=(--executor "10.77.0.$i:$(sed -n 's/.* READY rpc_port=\([0-9]*\).*/\1/p' "$log" | head -1)")
done
mkdir -p "$WORK/out"
wordcount_job wordcount-netns "$INPUT" 3 3 3 '"execution.buffer-timeout": "5ms"' >"$WORK/job.json"
ip netns exec "${NS[1]}" "$TECTL" submit "$WORK/job.json" "${RPCS[@]}" >"$WORK/tectl.out" 2>&1 \
  || { cat "$WORK/tectl.out"; fail "tectl submit across 3 namespaces failed"; }
word_count_oracle "$INPUT" >"$WORK/expected.txt"
cat "$WORK"/out/part-*.txt | sort >"$WORK/actual.txt"
[ -s "$WORK/expected.txt" ] || fail "oracle produced nothing"
cmp -s "$WORK/expected.txt" "$WORK/actual.txt" || fail "word counts across 3 namespaces differ from coreutils"
grep -q "data_port=" "$WORK/d2.log" || fail "no READY data port"
echo "word count across 3 network namespaces matches coreutils"
