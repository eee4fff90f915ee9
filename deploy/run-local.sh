#!/usr/bin/env bash
# Two `granite serve` replicas and nginx in front of them, all on loopback: one conversation's
# turns (same X-Session-Id) land on one replica, whose prompt cache then serves them; another
# conversation may land elsewhere. Prints each replica's request and cached-token counters.
# Needs nginx (Debian: apt-get install nginx-light) and a built `granite` (cargo build --release).
set -euo pipefail
cd "$(dirname "$0")/.."
GRANITE=${GRANITE:-target/release/granite}
MODEL=${MODEL:-assets/granite-austen}
[ -x "$GRANITE" ] || { echo "build first: cargo build --release" >&2; exit 1; }
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "needs nginx" >&2; exit 1; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for port in 8081 8082; do
  "$GRANITE" serve --model "$MODEL" --port "$port" >"$work/replica-$port.log" 2>&1 &
  pids+=($!)
done
"$NGINX" -p "$work" -c "$PWD/deploy/nginx.conf" 2>"$work/nginx.log" &
pids+=($!)

ready() { curl -sf "http://127.0.0.1:$1/health" >/dev/null; }
for _ in $(seq 1 120); do
  ready 8081 && ready 8082 && ready 8080 && break
  sleep 0.5
done
ready 8080 || { echo "the servers did not come up:"; cat "$work"/*.log; exit 1; }

# One conversation, three turns, each sending the whole conversation so far.
turn() { # session, messages JSON; prints the reply, the replica to stderr
  curl -sf -D "$work/headers" http://127.0.0.1:8080/v1/chat/completions \
    -H 'Content-Type: application/json' -H "X-Session-Id: $1" \
    -d "{\"model\": \"$(basename "$MODEL")\", \"max_tokens\": 16, \"temperature\": 0,
         \"messages\": $2}"
  awk 'tolower($1) == "x-granite-replica:" {print $2}' "$work/headers" | tr -d '\r' >"$work/replica"
}
msgs='[{"role": "user", "content": "Good morning, Mr. Darcy."}]'
for n in 1 2 3; do
  reply=$(turn alice "$msgs")
  text=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["choices"][0]["message"]["content"])' <<<"$reply")
  cached=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["usage"]["prompt_tokens_details"]["cached_tokens"])' <<<"$reply")
  echo "alice turn $n: replica $(cat "$work/replica"), cached_tokens=$cached"
  msgs=$(python3 -c 'import json,sys; m=json.loads(sys.argv[1]); m+= [{"role":"assistant","content":sys.argv[2]},{"role":"user","content":"Pray, go on."}]; print(json.dumps(m))' "$msgs" "$text")
done
for who in bob carol dave erin; do
  turn "$who" '[{"role": "user", "content": "Shall we walk to Meryton?"}]' >/dev/null
  echo "$who turn 1: replica $(cat "$work/replica")"
done

for port in 8081 8082; do
  m=$(curl -sf "http://127.0.0.1:$port/metrics")
  req=$(awk '/^granite_requests_total /{print $2}' <<<"$m")
  cached=$(awk '/^granite_cached_prompt_tokens_total /{print $2}' <<<"$m")
  echo "replica $port: requests_total=$req cached_prompt_tokens_total=$cached"
done
