#!/usr/bin/env sh
# Phone number parsing: fast path versus libphonenumber path (single-threaded, release),
# then the fast/library equivalence property tests at a large case count.
#   PHONE_PROP_CASES  cases per property for the equivalence tests (default 1,000,000;
#                     0 skips them)
set -eu
cd "$(dirname "$0")/.."
cargo run --release -p stoplist-domain --example bench_parse
cases="${PHONE_PROP_CASES:-1000000}"
if [ "$cases" != 0 ]; then
    PHONE_PROP_CASES="$cases" cargo test --release -p stoplist-domain --test phone_props
fi
