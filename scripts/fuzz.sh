#!/usr/bin/env bash
# Runs every cargo-fuzz target (or the ones named) for a given time each and
# reports runs, coverage and crashes per target.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET ...]     (default: 300 s, all)
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). The
# corpora grow in fuzz/corpus/<target>/ (only the checked-in seed-* files are
# tracked); crashes land in fuzz/artifacts/<target>/ — each one found becomes
# a regression test in tests/hardening_regressions.rs.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

secs="${1:-300}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

cargo +nightly fuzz build >/dev/null
status=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    log="$(mktemp)"
    echo "==> $t for ${secs}s" >&2
    if cargo +nightly fuzz run "$t" "corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 >"$log" 2>&1; then
        result=ok
    else
        result=CRASH
        status=1
    fi
    runs="$(grep -Eo '#[0-9]+' "$log" | tail -1 | tr -d '#')"
    cov="$(grep -Eo 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)"
    crashes="$(find "artifacts/$t" -type f | wc -l)"
    printf '%-20s %6ss  runs %-10s cov %-6s crash files %s  %s\n' \
        "$t" "$secs" "${runs:-0}" "${cov:-?}" "$crashes" "$result"
    if [ "$result" = CRASH ]; then
        tail -40 "$log" >&2
    fi
    rm -f "$log"
done
exit $status
