#!/usr/bin/env bash
# Throughput kernel <-> synfin over a TUN device (plain and with virtio-net
# offloads) next to kernel <-> kernel over a veth pair (MTU 1500), measured
# in one run: each path REPS times (default 3), in turn, and the median.
# Needs root and a release build (cargo build --release). Everything runs in
# network namespaces made here (198.18.0.0/24, 198.18.9.0/24) and removed at
# the end. No side hashes the data (--no-hash): SHA-256 costs more CPU than
# TCP does, and the point is the transport.
# Usage: scripts/interop_throughput.sh [BYTES]   (default 1 GiB)
# PIN=1 puts the two ends of every path on two different CPUs (taskset -c 0
# for synfin or the veth sender, -c 1 for the kernel's peer), the same way
# for every path: unpinned, one run's transfers on the 2-core test machine
# spread from 4.5 to 14 Gbit/s (the ends sharing a core, most likely), pinned
# from 10 to 15 (docs/PERFORMANCE.md, "Over a real link").
set -euo pipefail
cd "$(dirname "$0")/.."
BYTES="${1:-1073741824}"
REPS="${REPS:-3}"
SYNFIN="${SYNFIN:-target/release/synfin}"
PEER=tests/interop/peer.py
# End A (synfin, or the veth sender) and end B (the kernel's peer).
A=(); B=()
if [ "${PIN:-0}" = 1 ]; then A=(taskset -c 0); B=(taskset -c 1); fi
NS="sfperf$$"
cleanup() {
    for n in "$NS" "${NS}a" "${NS}b"; do
        ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null || true
        ip netns del "$n" 2>/dev/null || true
    done
    rm -f "/tmp/$NS.s" "/tmp/$NS.v"
}
trap cleanup EXIT
rate() { python3 -c "import json,sys; v=json.loads(sys.argv[1]); print('%.0f' % (v['bytes_in']*8/v['seconds']/1e6))" "$1"; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

ip netns add "$NS"
ip -n "$NS" link set lo up
ip netns add "${NS}a"; ip netns add "${NS}b"
ip link add sfva netns "${NS}a" mtu 1500 type veth peer name sfvb netns "${NS}b" mtu 1500
ip -n "${NS}a" addr add 198.18.9.1/24 dev sfva; ip -n "${NS}a" link set sfva up; ip -n "${NS}a" link set lo up
ip -n "${NS}b" addr add 198.18.9.2/24 dev sfvb; ip -n "${NS}b" link set sfvb up; ip -n "${NS}b" link set lo up

k2s() { # kernel -> synfin; $1 = extra synfin flags
    ip netns exec "$NS" "${A[@]}" "$SYNFIN" serve --tun sf0 --addr 198.18.0.2/24 --port 5000 --mode discard --count 1 --json --no-hash $1 >"/tmp/$NS.s" 2>/dev/null &
    sleep 0.5
    ip netns exec "$NS" "${B[@]}" python3 "$PEER" client --to 198.18.0.2:5000 --send "$BYTES" --shutdown-write --read-all --no-hash >/dev/null
    wait
    rate "$(cat "/tmp/$NS.s")"
}
s2k() { # synfin -> kernel
    ip netns exec "$NS" "${A[@]}" "$SYNFIN" serve --tun sf0 --addr 198.18.0.2/24 --port 5000 --mode "source=$BYTES" --count 1 --json --no-hash $1 >/dev/null 2>&1 &
    sleep 0.5
    local out
    out=$(ip netns exec "$NS" "${B[@]}" python3 "$PEER" client --to 198.18.0.2:5000 --read-all --no-hash)
    wait
    rate "$out"
}
k2k() { # kernel -> kernel over the veth pair
    ip netns exec "${NS}b" "${B[@]}" python3 "$PEER" server --port 5000 --read-all --no-hash >"/tmp/$NS.v" 2>/dev/null &
    sleep 0.5
    ip netns exec "${NS}a" "${A[@]}" python3 "$PEER" client --to 198.18.9.2:5000 --send "$BYTES" --shutdown-write --read-all --no-hash >/dev/null
    wait
    rate "$(cat "/tmp/$NS.v")"
}

declare -a a b c d e
for _ in $(seq "$REPS"); do
    a+=("$(k2s "")"); b+=("$(s2k "")")
    c+=("$(k2s --offload)"); d+=("$(s2k --offload)")
    e+=("$(k2k)")
done

echo "bytes per transfer: $BYTES, median of $REPS (all runs in brackets)"
echo "| path | Mbit/s |"
echo "|------|--------|"
echo "| kernel → synfin over TUN | $(median "${a[@]}") (${a[*]}) |"
echo "| synfin → kernel over TUN | $(median "${b[@]}") (${b[*]}) |"
echo "| kernel → synfin over TUN, offloads | $(median "${c[@]}") (${c[*]}) |"
echo "| synfin → kernel over TUN, offloads | $(median "${d[@]}") (${d[*]}) |"
echo "| kernel → kernel over veth (MTU 1500) | $(median "${e[@]}") (${e[*]}) |"
