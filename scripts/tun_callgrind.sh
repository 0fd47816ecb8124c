#!/usr/bin/env bash
# Instructions per 1448-byte segment that synfin's process executes sending
# to the kernel over TUN with offloads (`serve --mode source=… --offload`,
# the kernel's reader tests/interop/peer.py), counted by callgrind: user
# space only, exact enough to compare builds where wall-clock rates on a
# shared machine are not. Runs N and 2N bytes and divides the difference by
# the difference in segments (start-up and teardown cancel out), with the
# transmit checksum offload on and off (--no-tx-checksum-offload).
# Between runs the figure moves by about 2 % (how many ACKs arrive per
# segment depends on timing).
# GLIBC_TUNABLES=glibc.cpu.hwcaps=-ERMS as scripts/callgrind.sh (valgrind
# counts each byte of `rep movsb` as an instruction).
# Needs root, valgrind and a release build; runs in a network namespace
# made here (198.18.0.0/24) and removed at the end. ~1 minute.
# Usage: scripts/tun_callgrind.sh [MIB]   (default 64: 64 and 128 MiB)
set -euo pipefail
cd "$(dirname "$0")/.."
MIB="${1:-64}"
SYNFIN="${SYNFIN:-target/release/synfin}"
NS="sfcg$$"
cleanup() {
    ip netns pids "$NS" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
    rm -f "/tmp/$NS".*
}
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up

# Instructions callgrind collected for one transfer of $1 bytes; $2 extra flags.
count() {
    GLIBC_TUNABLES=glibc.cpu.hwcaps=-ERMS ip netns exec "$NS" valgrind --tool=callgrind \
        --callgrind-out-file="/tmp/$NS.cg" "$SYNFIN" serve --tun sf0 --addr 198.18.0.2/24 \
        --port 5000 --mode "source=$1" --count 1 --json --no-hash --offload $2 \
        >/dev/null 2>"/tmp/$NS.err" &
    for _ in $(seq 150); do
        grep -q "listening" "/tmp/$NS.err" 2>/dev/null && break
        sleep 0.2
    done
    ip netns exec "$NS" python3 tests/interop/peer.py client --to 198.18.0.2:5000 \
        --read-all --no-hash >/dev/null
    wait
    grep -o "Collected : [0-9]*" "/tmp/$NS.err" | grep -o "[0-9]*$" || true
}

n=$((MIB << 20))
segs=$(((n + 1447) / 1448))
echo "| synfin → kernel over TUN, offloads | instructions per segment |"
echo "|------|------|"
for flags in "" "--no-tx-checksum-offload"; do
    a=$(count "$n" "$flags")
    b=$(count "$((2 * n))" "$flags")
    # A binary from before the flag existed refuses it.
    if [ -z "$a" ] || [ -z "$b" ]; then r="n/a"; else r=$(((b - a) / segs)); fi
    echo "| ${flags:-transmit checksum offload (default)} | $r |"
done
