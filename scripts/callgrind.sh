#!/usr/bin/env bash
# Instructions per bulk segment and per connection lifecycle, for synfin and
# smoltcp, counted by valgrind's callgrind: exact and repeatable, so usable
# to catch regressions.
#
#   scripts/callgrind.sh                 # both stacks, MTU 1500 and 65535
#   STACKS=synfin scripts/callgrind.sh   # synfin only (no smoltcp build)
#   BYTES=16M LIFECYCLES=2000 scripts/callgrind.sh
#   MTUS= LIFECYCLE_BYTES=100 scripts/callgrind.sh   # lifecycles only, 100 bytes each way
#   MTUS= LIFECYCLE_BATCH=16 scripts/callgrind.sh    # lifecycles 16 at a time, in lockstep
#
# Each workload runs twice, at n and at 2n (bytes or lifecycles), with the
# virtual clock (time moves only when both stacks wait for a timer, so the
# run does not depend on the machine's speed). The figure is
#   (Ir(2n) - Ir(n)) / (segments(2n) - segments(n))
# which cancels start-up, the handshake and the process's own set-up; a
# "segment" is a packet from the sender to the receiver, and the count
# covers everything both stacks do for it (the receiver's ACKs included).
#
# glibc's memcpy copies large blocks with `rep movsb` on CPUs with ERMS, and
# valgrind counts each byte such an instruction moves as one instruction
# (the CPU retires it as one), which inflates the count of every big copy
# 5-20x — the application's 64 KiB writes into the send buffer above all.
# The script therefore runs with glibc's ERMS path disabled, so memcpy uses
# its vector loop and the count is an honest one for both stacks alike.
# ERMS=1 keeps glibc's choice (the counts the script printed before).
set -euo pipefail
cd "$(dirname "$0")/.."

STACKS="${STACKS:-synfin smoltcp}"
BYTES="${BYTES:-8M}"
LIFECYCLES="${LIFECYCLES:-1000}"
MTUS="${MTUS-1500 65535}"        # empty: no bulk rows
LIFECYCLE_BYTES="${LIFECYCLE_BYTES:-1}"
LIFECYCLE_BATCH="${LIFECYCLE_BATCH:-1}"

if [ "${ERMS:-0}" != 1 ]; then
    export GLIBC_TUNABLES="${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}glibc.cpu.hwcaps=-ERMS"
fi

command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }

features=()
case " $STACKS " in *" smoltcp "*) features=(--features bench-smoltcp) ;; esac
cargo build --release --quiet "${features[@]}"
bin=target/release/synfin
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

double() { # 8M -> 16M, 1000 -> 2000
    local v="$1" suffix=""
    case "$v" in *[KMGkmg]) suffix="${v: -1}"; v="${v%?}" ;; esac
    echo "$((v * 2))$suffix"
}

# run STACK WORKLOAD SIZE [MTU] -> prints "IR SEGMENTS"
run() {
    local stack="$1" workload="$2" size="$3" mtu="${4:-1500}" log="$tmp/log"
    local args=(bench --only "$workload" --stack "$stack" --repeat 1 --virtual-clock --json --mtu "$mtu")
    if [ "$workload" = bulk ]; then
        args+=(--bytes "$size")
    else
        args+=(--lifecycles "$size" --lifecycle-bytes "$LIFECYCLE_BYTES" --lifecycle-batch "$LIFECYCLE_BATCH")
    fi
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" "$bin" "${args[@]}" >/dev/null 2>"$log" || {
        cat "$log" >&2; exit 1; }
    local ir seg
    ir="$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$log" | tail -1)"
    seg="$(sed -n "s/^bench-detail: stack=$stack workload=$workload .*segments=\([0-9]*\).*/\1/p" "$log" | tail -1)"
    [ -n "$ir" ] && [ -n "$seg" ] || { echo "callgrind.sh: no count for $stack $workload" >&2; cat "$log" >&2; exit 1; }
    echo "$ir $seg"
}

per() { # per STACK WORKLOAD SIZE [MTU] -> "IR_PER_UNIT UNITS"
    local a b
    read -r ir1 s1 < <(run "$@")
    local big; big="$(double "$3")"
    read -r ir2 s2 < <(run "$1" "$2" "$big" "${4:-1500}")
    echo "$ir1 $s1 $ir2 $s2"
}

printf '%-8s %-22s %14s %12s\n' stack workload "instr/unit" units
for stack in $STACKS; do
    for mtu in $MTUS; do
        read -r ir1 s1 ir2 s2 < <(per "$stack" bulk "$BYTES" "$mtu")
        awk -v a="$ir1" -v b="$ir2" -v x="$s1" -v y="$s2" -v s="$stack" -v m="$mtu" \
            'BEGIN { printf "%-8s %-22s %14.0f %12d\n", s, "bulk mtu " m " /segment", (b - a) / (y - x), y - x }'
    done
    read -r ir1 s1 ir2 s2 < <(per "$stack" lifecycles "$LIFECYCLES")
    label=lifecycle
    [ "$LIFECYCLE_BYTES" = 1 ] || label="lifecycle ${LIFECYCLE_BYTES} B"
    [ "$LIFECYCLE_BATCH" = 1 ] || label="$label x${LIFECYCLE_BATCH}"
    awk -v a="$ir1" -v b="$ir2" -v n="$LIFECYCLES" -v s="$stack" -v l="$label" \
        'BEGIN { printf "%-8s %-22s %14.0f %12d\n", s, l, (b - a) / n, n }'
done
