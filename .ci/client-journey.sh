#!/usr/bin/env bash
# A generated client proves the spec usable: openapi-python-client (PyPI, pinned) generates a
# Python client from docs/openapi.json with --fail-on-warning, and .ci/client_journey.py walks a
# shopper through a freshly started reference shop with it.
#
#   bash .ci/client-journey.sh
set -euo pipefail
cd "$(dirname "$0")/.."

GENERATOR_VERSION=0.29.1
VENV=$PWD/target/client-venv
OUT=$PWD/target/client
if ! "$VENV/bin/openapi-python-client" --version 2>/dev/null | grep -q "$GENERATOR_VERSION"; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check \
        "openapi-python-client==$GENERATOR_VERSION" ruff
fi
rm -rf "$OUT" && mkdir -p "$OUT"
(cd "$OUT" && PATH="$VENV/bin:$PATH" "$VENV/bin/openapi-python-client" generate \
    --path "$OLDPWD/docs/openapi.json" --fail-on-warning)
"$VENV/bin/pip" install --quiet --disable-pip-version-check "$OUT"/*/

cargo build -q -p reference-shop
data=$(mktemp -d)
port=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
export DATABASE_URL="sqlite://$data/shop.db" SEARCH_INDEX_PATH="$data/search" PORT=$port
export HOST=127.0.0.1 JWT_SECRET="client-journey-secret-client-journey-secret" COMMERCE_ENV=production
export RUST_LOG=warn
ADMIN_PASSWORD=staff-password target/debug/reference-shop create-admin --username staff \
    --email staff@example.com >/dev/null
target/debug/reference-shop serve >"$data/server.log" 2>&1 &
shop=$!
# Waits for the shop to finish shutting down (its search index writes its last commit) before
# removing its files: removing them under it fails now and then, and fails the run with it.
trap 'kill $shop 2>/dev/null || true; wait $shop 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do curl -fsS "$base/health" >/dev/null 2>&1 && break; sleep 0.1; done

# A product to find: staff create a category and a product over the API.
staff=$(curl -fsS -X POST "$base/api/auth/login/" -H 'Content-Type: application/json' \
    -d '{"username":"staff","password":"staff-password"}' | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["access"])')
category=$(curl -fsS -X POST "$base/api/categories/" -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $staff" -d '{"name":"Tea"}' | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["id"])')
curl -fsS -X POST "$base/api/products/" -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $staff" \
    -d "{\"name\":\"Green tea\",\"price\":\"4.50\",\"category\":$category,\"stock\":10}" >/dev/null

"$VENV/bin/python" .ci/client_journey.py "$base"
