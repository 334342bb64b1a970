#!/usr/bin/env bash
# The catalogue load benchmark (not part of the test suite).
#
#   bash benches/run.sh [PRODUCTS] [DURATION_SECONDS]     # defaults: 1000000 products, 15 s
#   BENCH_DATABASE=postgres bash benches/run.sh           # on PostgreSQL (TEST_POSTGRES_URL's server)
#   BENCH_DATABASE=postgres SEARCH_BACKEND=postgres bash benches/run.sh   # tsvector search
#
# Builds the release binaries, seeds a fresh catalogue (reused by later runs of the same size
# and database), starts the reference shop and the bare poem-openapi baseline, and drives each
# with wrk at 32 connections on 2 threads. Prints requests/s, p50 and p99 per endpoint, and
# each endpoint's throughput as a ratio of the baseline's, then the checkout benchmark.
# Needs `wrk` (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."

products=${1:-1000000}
duration=${2:-15}
connections=32
database=${BENCH_DATABASE:-sqlite}
search=${SEARCH_BACKEND:-tantivy}
data="target/bench-data/$database-$products"
shop_port=18000
baseline_port=18001

command -v wrk >/dev/null || { echo "wrk is required: apt-get install wrk" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is required: apt-get install curl" >&2; exit 1; }
cargo build --release -q -p reference-shop -p load-bench

if [ "$database" = postgres ]; then
    server=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
    export DATABASE_URL="${server%/*}/bench_$products"
    psql "$server" -qc "CREATE DATABASE bench_$products" 2>/dev/null || true
else
    export DATABASE_URL="sqlite://$data/shop.db"
fi
export SEARCH_BACKEND=$search SEARCH_INDEX_PATH="$data/search"
export JWT_SECRET="benchmark-secret-benchmark-secret-benchmark" COMMERCE_ENV=production
export RUST_LOG=warn PORT=$shop_port HOST=127.0.0.1
if [ ! -f "$data/seeded" ]; then
    rm -rf "$data" && mkdir -p "$data"
    if [ "$database" = postgres ]; then
        psql "$server" -qc "DROP DATABASE IF EXISTS bench_$products" -c "CREATE DATABASE bench_$products"
    fi
    /usr/bin/time -f "seed-demo: %e s, max RSS %M KiB" \
        target/release/reference-shop seed-demo --products "$products" --categories 50
    if [ "$database" = postgres ]; then
        # What autovacuum does soon after a bulk load (this machine's server runs without it):
        # without the visibility map, the unfiltered lists' index-only scans read the table
        # too (388 req/s right after seeding, 1,568 after a vacuum, same build and machine).
        psql "$DATABASE_URL" -qc "VACUUM (ANALYZE)"
    fi
    touch "$data/seeded"
fi

target/release/reference-shop serve & shop_pid=$!
target/release/baseline "127.0.0.1:$baseline_port" & baseline_pid=$!
trap 'kill $shop_pid $baseline_pid 2>/dev/null || true' EXIT
for port in $shop_port $baseline_port; do
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
done
sleep 1

# run NAME URL [SCRIPT]: prints "NAME rps p50 p99".
run() {
    local name=$1 url=$2 script=${3:-}
    local args=(-t2 -c"$connections" -d"${duration}s" --latency)
    [ -n "$script" ] && args+=(-s "$script")
    # A cached endpoint is measured cached: its first, uncached answer (at a million products,
    # an unfiltered list's count takes hundreds of milliseconds) is loaded before the clock
    # starts. wrk corrects its latencies for coordinated omission, so that one stall of all
    # 32 connections would otherwise read as a p99 of the same size.
    [ -z "$script" ] && curl -sf -o /dev/null "$url"
    wrk "${args[@]}" "$url" > "target/bench-data/$name.txt"
    awk -v name="$name" '
        /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 } /^Requests\/sec/ { rps = $2 }
        END { printf "%s %s %s %s\n", name, rps, p50, p99 }' "target/bench-data/$name.txt"
}

shop="http://127.0.0.1:$shop_port"
results=$(
    run baseline "http://127.0.0.1:$baseline_port/product"
    run product-detail "$shop/api/products/4242/"
    run list-page-1 "$shop/api/products/"
    run list-page-500 "$shop/api/products/?page=500&ordering=price"
    run unfiltered-lists "$shop" benches/unfiltered-lists.lua
    run filtered-lists "$shop" benches/filtered-lists.lua
    run search "$shop" benches/search-terms.lua
)
echo
echo "$products products on $database, search by $search, $connections connections, ${duration}s each ($(nproc) cores)"
echo "$results" | awk '
    NR == 1 { base = $2 }
    { printf "%-16s %10.0f req/s  p50 %-9s p99 %-9s  %.3f x baseline\n", $1, $2, $3, $4, $2 / base }'
echo "shop RSS after load: $(ps -o rss= -p $shop_pid) KiB"

# Checkout, beside the database's own ceiling measured in the same run. Either figure moves by
# a fifth between consecutive runs on a two-core machine (docs/performance.md), so each is
# measured CHECKOUT_ROUNDS times (default 3), alternately, and the medians are compared.
rounds=${CHECKOUT_ROUNDS:-3}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
orders=() ceiling=()
echo
if [ "$database" = postgres ]; then
    psql "$server" -qc "DROP DATABASE IF EXISTS pgbench_ceiling" -c "CREATE DATABASE pgbench_ceiling"
    pgbench -q -i -s 10 "${server%/*}/pgbench_ceiling" >/dev/null 2>&1
fi
for round in $(seq "$rounds"); do
    out="target/bench-data/checkout-$round.txt"
    if [ "$database" = sqlite ]; then
        # The checkout binary measures the ceiling itself: 32 writers committing a one-row
        # conditional update each, on the same file.
        target/release/checkout "$shop" "$data/shop.db" "$duration" > "$out"
        ceiling+=("$(awk '/tx\/s/ { print $(NF-1) }' "$out")")
    else
        # Both sides start from vacuumed tables, as pgbench vacuums its own before every run:
        # the dead rows earlier runs left in carts and tasks would otherwise slow this one, and
        # by how much would depend on how many runs came before and whether autovacuum is on.
        psql "$DATABASE_URL" -qc "VACUUM (ANALYZE)"
        target/release/checkout "$shop" - "$duration" > "$out"
        # The database's own ceiling: pgbench's default TPC-B-like transaction, 32 clients.
        ceiling+=("$(pgbench -c "$connections" -j 2 -T "$duration" "${server%/*}/pgbench_ceiling" 2>/dev/null \
            | awk '/^tps/ { printf "%.0f", $3; exit }')")
    fi
    orders+=("$(awk '/orders\/s/ { print $(NF-3) }' "$out")")
    echo "checkout round $round: ${orders[-1]} orders/s, the database's own ${ceiling[-1]} tx/s"
done
if [ "$database" = postgres ]; then
    ceiling_name="pgbench TPC-B, $connections clients"
else
    ceiling_name="one-row update transactions, 32 writers"
fi
o=$(printf '%s\n' "${orders[@]}" | median) t=$(printf '%s\n' "${ceiling[@]}" | median)
echo "checkout (3 lines, 32 buyers), median of $rounds: $o orders/s; $ceiling_name: $t tx/s"
awk -v o="$o" -v t="$t" 'BEGIN { printf "ratio: %.3f\n", o / t }'
