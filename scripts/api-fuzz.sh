#!/usr/bin/env bash
# Property-based checks of the JSON API with schemathesis: every operation
# of /api/openapi.json, signed in as a reviewer, an analyst, an auditor and
# the member of staff the demo's first finding is about, must never answer
# with a server error (5xx), and
# every response must match the document's status codes and schemas.
#
#   scripts/api-fuzz.sh [PROBITY_BINARY] [MAX_EXAMPLES]
#
# Builds a small demo store, serves it on a free loopback port, signs in
# through the real sign-in form (CSRF double-submit cookie), runs
# schemathesis with the session cookie, and stops the server. Needs
# `schemathesis` (pip install schemathesis) and curl. Traffic stays on
# 127.0.0.1; the run is bounded by MAX_EXAMPLES per operation.
set -euo pipefail
BIN="${1:-target/debug/probity}"
MAX="${2:-60}"
command -v schemathesis >/dev/null || { echo "schemathesis is not installed: pip install schemathesis" >&2; exit 1; }
WORK="$(mktemp -d)"
SERVER=""
cleanup() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN" demo --dir "$WORK/demo" --people 200 --days 30 --seed 3 --no-serve >"$WORK/demo.log"
"$BIN" serve --store "$WORK/demo/store" --bind 127.0.0.1:0 >"$WORK/serve.log" 2>&1 &
SERVER=$!
ADDR=""
for _ in $(seq 1 100); do
  ADDR="$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$WORK/serve.log" | head -1 || true)"
  [ -n "$ADDR" ] && break
  sleep 0.1
done
[ -n "$ADDR" ] || { echo "the server did not start:" >&2; cat "$WORK/serve.log" >&2; exit 1; }

password() {
  python3 -c 'import json,sys; print(next(l["password"] for l in json.load(open(sys.argv[1])) if l["user"]==sys.argv[2]))' \
    "$WORK/demo/demo-logins.json" "$1"
}

sign_in() {
  local user="$1" jar="$WORK/$1.cookies" token
  curl -sf -c "$jar" "$ADDR/login" >/dev/null
  token="$(awk '$6=="probity_login"{print $7}' "$jar")"
  curl -sf -b "$jar" -c "$jar" -o /dev/null \
    --data-urlencode "csrf=$token" --data-urlencode "user=$user" \
    --data-urlencode "password=$(password "$user")" --data-urlencode "next=/" "$ADDR/login"
  awk '$6=="probity_session"{print $7}' "$jar"
}

status=0
for user in rev ana aud pat; do
  session="$(sign_in "$user")"
  [ -n "$session" ] || { echo "sign-in as $user failed" >&2; exit 1; }
  echo "== schemathesis as $user against $ADDR/api/openapi.json (at most $MAX examples per operation)"
  # (run in the scratch folder: schemathesis keeps its state in ./.schemathesis)
  (cd "$WORK" && schemathesis run "$ADDR/api/openapi.json" \
    --header "Cookie: probity_session=$session" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-examples "$MAX" --seed 17 --workers 2 --request-timeout 20) \
    || status=1
done
exit "$status"
