# Cluster mode with the security options of the TaskExecutor ports on the JobManager's
# side too: mutual TLS and the shared token on its RPC port and on the connections it
# dials back. TaskExecutors with the credentials register and run a two-TaskExecutor
# word count (= coreutils); one with a wrong token, one speaking plaintext are refused
# and never listed.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
command -v openssl >/dev/null || skip "the openssl CLI is not installed (scripts/install-deps.sh test)"
C="$WORK/certs"
bash "$ROOT/scripts/gen-test-certs.sh" "$C"
head -c 48 /dev/urandom | base64 -w0 >"$WORK/token"
head -c 48 /dev/urandom | base64 -w0 >"$WORK/other-token"
chmod 600 "$WORK/token" "$WORK/other-token" # secrets others can read stop start-up
TLS=(-D security.ssl.enabled=true -D security.ssl.certificate="$C/server.pem" -D security.ssl.key="$C/server.key"
     -D security.ssl.ca="$C/ca.pem" -D security.ssl.require-client-cert=true)
start_jobmanager jm "${TLS[@]}" -D security.auth.token-file="$WORK/token"
start_executor te1 jm -D taskmanager.numberOfTaskSlots=2 "${TLS[@]}" -D security.auth.token-file="$WORK/token"
start_executor te2 jm -D taskmanager.numberOfTaskSlots=2 "${TLS[@]}" -D security.auth.token-file="$WORK/token"
start_executor bad1 jm -D taskmanager.numberOfTaskSlots=2 "${TLS[@]}" -D security.auth.token-file="$WORK/other-token"
start_executor bad2 jm -D taskmanager.numberOfTaskSlots=2
wait_until 10 registered jm 2 || fail "the TaskExecutors with the credentials did not register"
wait_until 10 grep -q "registering again" "$bad1_LOG" || fail "a wrong token was not refused"
wait_until 10 grep -q "registering again" "$bad2_LOG" || fail "a plaintext TaskExecutor was not refused"
[ "$(curl -s "$jm_URL/v1/taskmanagers" | json 'sorted(t["resource_id"] for t in d["taskmanagers"])')" = \
  "$(python3 -c "print(sorted(['$te1_RPC', '$te2_RPC']))")" ] || fail "a refused TaskExecutor is listed"

INPUT=/usr/share/common-licenses/GPL-3
[ -r "$INPUT" ] || INPUT=$(ls /usr/share/common-licenses/* | head -1)
wordcount_job secure "$INPUT" 1 2 2 >"$WORK/job.json"
"$TECTL" submit "$WORK/job.json" --jobmanager "$jm_REST" --attach >"$WORK/attach.out" 2>&1 \
  || { cat "$WORK/attach.out"; fail "the job failed over TLS"; }
word_count_oracle "$INPUT" >"$WORK/expected.txt"
cat "$WORK"/out/part-*.txt | sort | cmp -s "$WORK/expected.txt" - || fail "word counts differ from coreutils"
echo "cluster over mutual TLS + token: word count = coreutils; wrong token and plaintext refused"
