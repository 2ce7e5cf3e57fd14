# High availability on an etcd that requires TLS with client certificates
# (--client-cert-auth) and has authentication enabled: the user 'te' may read and write
# /taskexecutord/ only. Certificates from scripts/gen-test-certs.sh, plus a client
# certificate without a CommonName (etcd refuses CN'd certificates on its JSON gateway
# once authentication is on). Users, role and `auth enable` are set up through the
# gateway with curl.
#   - http:// endpoints with high-availability.etcd.tls.ca-file set: refused at start,
#     naming the endpoint;
#   - a wrong password: the JobManager says authentication failed and does not lead;
#   - the right settings: it leads over https with a token, runs a checkpointed job;
#     etcd is killed (-9) and restarted mid-job (a new TLS connection, and its tokens
#     are gone: the next requests are refused 401 and the JobManager authenticates
#     again); it keeps or regains the leadership and the job finishes with its committed
#     output seq(1) exactly once (coreutils oracle); its record is in etcd.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
[ -x /usr/bin/etcd ] || need_tool etcd "etcd-server: the etcd of the high-availability tests"
C="$WORK/certs"
bash "$ROOT/scripts/gen-test-certs.sh" "$C" || fail "gen-test-certs.sh failed"
(cd "$C" && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out te.key 2>/dev/null &&
  openssl req -new -key te.key -subj "/O=taskexecutord" -out te.csr 2>/dev/null &&
  printf 'extendedKeyUsage=clientAuth\n' >te.ext &&
  openssl x509 -req -in te.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -sha256 -extfile te.ext \
    -out te.pem 2>/dev/null && chmod 600 te.key) || fail "cannot make the client certificate"
read -r -a P <<<"$(free_ports 4)"
URL=https://127.0.0.1:${P[0]}
etcd_up() {
  /usr/bin/etcd --name s0 --data-dir "$WORK/etcd-data" --listen-client-urls "$URL" --advertise-client-urls "$URL" \
    --listen-peer-urls "http://127.0.0.1:${P[1]}" --initial-advertise-peer-urls "http://127.0.0.1:${P[1]}" \
    --initial-cluster "s0=http://127.0.0.1:${P[1]}" --cert-file "$C/server.pem" --key-file "$C/server.key" \
    --trusted-ca-file "$C/ca.pem" --client-cert-auth >>"$WORK/etcd.log" 2>&1 &
  ETCD=$!
}
etcd_up
CLEANUP+=('kill -9 $ETCD 2>/dev/null')
E=(curl -s -m 5 --cacert "$C/ca.pem" --cert "$C/te.pem" --key "$C/te.key")
healthy() { "${E[@]}" "$URL/health" | grep -q '"health":"true"'; }
wait_until 30 healthy || { tail -5 "$WORK/etcd.log"; fail "etcd with TLS did not become healthy"; }
b64() { printf %s "$1" | base64 -w0; }
gw() { # PATH BODY: one gateway call that must succeed
  "${E[@]}" ${TOKEN:+-H "Authorization: $TOKEN"} "$URL$1" -d "$2" -o "$WORK/gw.out" -w '%{http_code}' | grep -q 200 ||
    fail "etcd $1: $(cat "$WORK/gw.out")"
}
gw /v3/auth/user/add '{"name": "root", "password": "rootpw"}'
gw /v3/auth/user/grant '{"user": "root", "role": "root"}'
gw /v3/auth/role/add '{"name": "te"}'
gw /v3/auth/role/grant "{\"name\": \"te\", \"perm\": {\"permType\": \"READWRITE\", \"key\": \"$(b64 /taskexecutord/)\", \"range_end\": \"$(b64 /taskexecutord0)\"}}"
gw /v3/auth/user/add '{"name": "te", "password": "te-secret"}'
gw /v3/auth/user/grant '{"user": "te", "role": "te"}'
gw /v3/auth/enable '{}'
printf 'te-secret\n' >"$WORK/pw" && printf 'wrong\n' >"$WORK/bad" && chmod 600 "$WORK/pw" "$WORK/bad"
ID="sec-$$"
HA=(-D high-availability.type=etcd -D high-availability.etcd.endpoints="$URL" -D high-availability.cluster-id="$ID"
    -D high-availability.etcd.tls.ca-file="$C/ca.pem" -D high-availability.etcd.tls.cert-file="$C/te.pem"
    -D high-availability.etcd.tls.key-file="$C/te.key" -D high-availability.etcd.username=te
    -D state.checkpoints.dir="$WORK/ckpt" -D heartbeat.timeout=20s)

# http:// endpoints while TLS is configured: refused at start, naming the endpoint.
rc=0
"$JOBMANAGER" -D jobmanager.rpc.port=0 -D jobmanager.rest.port=0 "${HA[@]}" \
  -D high-availability.etcd.endpoints="http://127.0.0.1:${P[0]}" -D high-availability.etcd.password-file="$WORK/pw" \
  >"$WORK/plain.log" 2>&1 || rc=$?
[ "$rc" != 0 ] && grep -q "http://127.0.0.1:${P[0]}' is http:// but TLS is configured" "$WORK/plain.log" ||
  fail "a plaintext endpoint with TLS configured was not refused clearly: $(tail -2 "$WORK/plain.log")"

# A wrong password: authentication fails, said so, and the JobManager does not lead.
start_jobmanager bad "${HA[@]}" -D high-availability.etcd.password-file="$WORK/bad"
refused() { grep -q "authentication as 'te' at $URL failed: .*authentication failed" "$bad_LOG"; }
wait_until 20 refused || fail "no clear message for a wrong etcd password: $(tail -3 "$bad_LOG")"
leads bad && fail "a JobManager with a wrong etcd password leads"
kill "$bad_PID"

# The right settings: it leads over TLS with a token and runs a job through an etcd restart.
start_jobmanager jm1 -D jobmanager.rpc.port="${P[2]}" -D jobmanager.rest.port="${P[3]}" "${HA[@]}" \
  -D high-availability.etcd.password-file="$WORK/pw"
wait_until 20 leads jm1 || fail "the JobManager did not lead over TLS with authentication: $(tail -3 "$jm1_LOG")"
start_executor te1 jm1 -D taskmanager.numberOfTaskSlots=2 -D heartbeat.timeout=20s
wait_until 15 registered jm1 1 || fail "the TaskExecutor did not register"
N=49999
mkdir -p "$WORK/out"
seq_sink_job ha-etcd-security $N 4000 "$WORK/out" >"$WORK/job.json"
job=$("$TECTL" submit "$WORK/job.json" --jobmanager "$jm1_REST" --checkpoint-interval 200ms --restart-attempts 3) ||
  fail "submit failed"
wait_until 30 job_checkpointed jm1 "$job" 1 || fail "no checkpoint completed"
kill -9 "$ETCD"
wait "$ETCD" 2>/dev/null
sleep 0.5
etcd_up
wait_until 30 healthy || fail "etcd did not come back"
wait_until 60 job_in_state jm1 "$job" FINISHED FAILED CANCELED || fail "the job did not end: $(tail -5 "$jm1_LOG")"
job_in_state jm1 "$job" FINISHED || fail "the job ended $(job_field jm1 "$job" 'd["state"], d["failure_cause"]')"
expect_seq_once "$WORK/out" $N
leads jm1 || wait_until 20 leads jm1 || fail "the JobManager does not lead after etcd restarted"
TOKEN=$("${E[@]}" "$URL/v3/auth/authenticate" -d '{"name": "root", "password": "rootpw"}' | json 'd["token"]')
gw /v3/kv/range "{\"key\": \"$(b64 "/taskexecutord/$ID/jobs/$job")\"}"
[ "$(json 'd["kvs"][0]["value"]' <"$WORK/gw.out" | base64 -d | json 'd["status"]')" = FINISHED ] ||
  fail "the job's record in etcd is not FINISHED"
echo "etcd over TLS with client certificates and authentication: wrong password refused, job through an etcd restart exactly once"
