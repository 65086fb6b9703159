#!/usr/bin/env bash
# Runs schemathesis against the HTTP API as its OpenAPI document describes it: builds the binary,
# starts `amtsbote run` on a fresh SQLite database with a press and an emergency token and no
# channel, waits for /healthz, runs `st run` with its default checks as the emergency token, and
# stops the service. The exit code is schemathesis'.
#
#   tests/schemathesis.sh                 # debug build, 50 examples per operation
#   ST_MAX_EXAMPLES=200 tests/schemathesis.sh --release
#   tests/schemathesis.sh -- --seed 1     # anything after -- goes to `st run`
#   AMTSBOTE_BIN=path/to/amtsbote tests/schemathesis.sh   # test this binary, build nothing
#
# Needs `st` (pip install schemathesis). CARGO_TARGET_DIR is honoured.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=debug
cargo_flags=()
st_extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --release) profile=release; cargo_flags+=(--release); shift ;;
    --) shift; st_extra=("$@"); break ;;
    *) echo "usage: $0 [--release] [-- st run options]" >&2; exit 2 ;;
  esac
done

if ! command -v st >/dev/null 2>&1; then
  echo "schemathesis: 'st' is not installed (pip install schemathesis)" >&2
  exit 2
fi

work="$(mktemp -d)"
service=""
stop() {
  if [ -n "$service" ] && kill -0 "$service" 2>/dev/null; then
    kill -TERM "$service"
    wait "$service" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop EXIT

if [ -n "${AMTSBOTE_BIN:-}" ]; then
  cp "$AMTSBOTE_BIN" "$work/amtsbote"
else
  cargo build --locked --bin amtsbote "${cargo_flags[@]}"
  # A copy, so a build that starts meanwhile does not swap the binary under the test.
  cp "${CARGO_TARGET_DIR:-target}/$profile/amtsbote" "$work/amtsbote"
fi

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
press="press-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
emergency="emergency-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"

# A clean environment and an empty working directory: no channel, no amtsbote.toml.
(
  cd "$work"
  exec env -i PATH="$PATH" HOME="$work" \
    AMTSBOTE_DATABASE_URL="sqlite://$work/amtsbote.db?mode=rwc" \
    AMTSBOTE_HTTP_LISTEN="127.0.0.1:$port" \
    AMTSBOTE_API_TOKEN="$press" \
    AMTSBOTE_API_EMERGENCY_TOKEN="$emergency" \
    AMTSBOTE_LOG_FORMAT=json RUST_LOG="${RUST_LOG:-warn}" \
    "$work/amtsbote" run
) >"$work/service.log" 2>&1 &
service=$!

base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
  if curl -fsS "$base/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$service" 2>/dev/null; then
    echo "schemathesis: amtsbote stopped before it answered:" >&2
    cat "$work/service.log" >&2
    exit 2
  fi
  sleep 0.1
done
curl -fsS "$base/healthz" >/dev/null

status=0
# From the scratch directory, where st keeps its cache. The hooks drop the findings that are
# not faults of the API, each with its reason.
hooks="$(pwd)/tests/schemathesis_hooks.py"
(cd "$work" && SCHEMATHESIS_HOOKS="$hooks" st run "$base/api/v1/openapi.json" \
  --header "Authorization: Bearer $emergency" \
  --max-examples "${ST_MAX_EXAMPLES:-50}" \
  "${st_extra[@]}") || status=$?

if grep -q '"level":"ERROR"' "$work/service.log"; then
  echo "schemathesis: the service logged errors:" >&2
  grep '"level":"ERROR"' "$work/service.log" | head -20 >&2
fi
exit "$status"
