#!/usr/bin/env bash
# Property-based API testing: schemathesis (PyPI) against a running reference shop.
#
# Builds the shop (debug), starts it on a free port with a fresh SQLite database and search
# index, seeds a staff user, a category, a few products and a customer, then runs schemathesis
# with every check against the served /openapi.json twice: as the customer, then as staff.
# Exits non-zero if either run reports a failure; the server is always stopped.
#
#   bash .ci/schemathesis.sh                 # both runs, 50 examples per operation
#   ST_MAX_EXAMPLES=10 bash .ci/schemathesis.sh
#   ST_ONLY=customer bash .ci/schemathesis.sh   # or ST_ONLY=staff
#
# Reports (JUnit and NDJSON per run), schemathesis's crash cache and the server log go to
# target/schemathesis/. It takes about a minute and a half on 2 cores once the shop is built.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
VENV=$PWD/target/ci-venv
OUT=$PWD/target/schemathesis
CONFIG=$PWD/.ci/schemathesis.toml
MAX_EXAMPLES=${ST_MAX_EXAMPLES:-50}
SEED=${ST_SEED:-20240607}
ONLY=${ST_ONLY:-}

# -- tools --------------------------------------------------------------------------------------
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    echo "== installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
PY="$VENV/bin/python"

echo "== cargo build -p reference-shop"
cargo build --quiet -p reference-shop
SHOP=target/debug/reference-shop

# -- a fresh shop -------------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/commerce-schemathesis.XXXXXX")
mkdir -p "$OUT"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"

export COMMERCE_ENV=production
export JWT_SECRET
JWT_SECRET=$("$PY" -c 'import secrets; print(secrets.token_hex(32))')
export DATABASE_URL="sqlite://$WORK/shop.db"
export SEARCH_INDEX_PATH="$WORK/search"
export HOST=127.0.0.1
export PORT
# Long enough that the seeded tokens outlive both runs.
export ACCESS_TOKEN_TTL_SECONDS=3600
export LOG_FORMAT=text
export RUST_LOG=${RUST_LOG:-warn}

STAFF_USER=st-staff
STAFF_PASSWORD=staff-password-123
CUSTOMER_USER=st-customer
CUSTOMER_PASSWORD=customer-password-123

echo "== creating staff user"
ADMIN_PASSWORD=$STAFF_PASSWORD "$SHOP" create-admin --username "$STAFF_USER" \
    --email staff@example.com >"$OUT/create-admin.log" 2>&1

echo "== starting the shop on $BASE"
"$SHOP" serve >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
    if curl -fsS "$BASE/health" >/dev/null 2>&1; then
        break
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "the shop exited at start-up; its log:" >&2
        cat "$OUT/server.log" >&2
        exit 1
    fi
    sleep 0.2
done
curl -fsS "$BASE/health" >/dev/null

# POSTs JSON ($2) to $1 with an optional bearer token ($3); prints the response body and fails
# on any status but 2xx.
post() {
    local auth=()
    if [ -n "${3:-}" ]; then
        auth=(-H "Authorization: Bearer $3")
    fi
    curl -fsS -X POST "$BASE$1" -H 'Content-Type: application/json' "${auth[@]}" -d "$2"
}
login() {
    post /api/auth/login/ "{\"username\":\"$1\",\"password\":\"$2\"}" | jq -r .access
}

echo "== seeding"
STAFF_TOKEN=$(login "$STAFF_USER" "$STAFF_PASSWORD")
CATEGORY=$(post /api/categories/ '{"name":"Instruments","description":"Things that make music"}' \
    "$STAFF_TOKEN" | jq -r .id)
for product in \
    '{"name":"Guitar","price":"1500.00","stock":10,"description":"Six strings"}' \
    '{"name":"Piano","price":"9999.99","stock":2,"description":"Eighty-eight keys"}' \
    '{"name":"Kazoo","price":"2.50","stock":0}' \
    '{"name":"Theremin","price":"450.00","stock":3,"is_active":false}'; do
    post /api/products/ "$(jq -c ".category = $CATEGORY" <<<"$product")" "$STAFF_TOKEN" >/dev/null
done
post /api/auth/register/ \
    "{\"username\":\"$CUSTOMER_USER\",\"email\":\"customer@example.com\",\"password\":\"$CUSTOMER_PASSWORD\"}" \
    >/dev/null
CUSTOMER_TOKEN=$(login "$CUSTOMER_USER" "$CUSTOMER_PASSWORD")
# Something in the customer's cart and one order, so reads have data to return.
post /api/cart/items/ '{"product":1,"quantity":1}' "$CUSTOMER_TOKEN" >/dev/null
post /api/orders/ '{"note":"first order"}' "$CUSTOMER_TOKEN" >/dev/null
post /api/cart/items/ '{"product":2,"quantity":1}' "$CUSTOMER_TOKEN" >/dev/null

# -- schemathesis -------------------------------------------------------------------------------
# Runs schemathesis as the holder of token $2; the report files are named after $1.
run_schemathesis() {
    local who=$1 token=$2
    echo "== schemathesis as $who ($MAX_EXAMPLES examples per operation, seed $SEED)"
    # From $OUT, so schemathesis keeps its crash cache (for `st replay`) there, not in the repo.
    # One worker: with two, hypothesis describes its strategies by calling ast.parse in both
    # threads, and CPython 3.11 keeps the AST constructor's recursion count in per-interpreter
    # state the threads share (python/cpython#106905 and its threaded reports), so a run now
    # and then died of "SystemError: AST constructor recursion depth mismatch".
    (cd "$OUT" && "$VENV/bin/schemathesis" --config-file "$CONFIG" run "$BASE/openapi.json" \
        --checks all \
        --max-examples "$MAX_EXAMPLES" \
        --seed "$SEED" \
        --continue-on-failure \
        --workers 1 \
        --request-timeout 10 \
        --no-color \
        --generation-database none \
        -H "Authorization: Bearer $token" \
        --report junit,ndjson \
        --report-junit-path "$OUT/$who.junit.xml" \
        --report-ndjson-path "$OUT/$who.ndjson")
}

status=0
if [ "$ONLY" != staff ]; then
    run_schemathesis customer "$CUSTOMER_TOKEN" || status=1
fi
if [ "$ONLY" != customer ]; then
    run_schemathesis staff "$STAFF_TOKEN" || status=1
fi

if grep -q -E ' (ERROR|WARN) ' "$OUT/server.log"; then
    echo "== server warnings and errors (full log: $OUT/server.log)"
    grep -E ' (ERROR|WARN) ' "$OUT/server.log" | tail -n 20
fi
if [ "$status" -ne 0 ]; then
    echo "schemathesis reported failures" >&2
fi
exit "$status"
