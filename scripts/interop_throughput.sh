#!/usr/bin/env bash
# Throughput kernel <-> synfin over a TUN device (plain and with virtio-net
# offloads) next to kernel <-> kernel over a veth pair, measured in one run.
# Needs root and a release build (cargo build --release). Everything runs in
# network namespaces made here (198.18.0.0/24, 198.18.9.0/24) and removed at
# the end. Usage: scripts/interop_throughput.sh [BYTES]   (default 1 GiB)
set -euo pipefail
cd "$(dirname "$0")/.."
BYTES="${1:-1073741824}"
SYNFIN="${SYNFIN:-target/release/synfin}"
PEER=tests/interop/peer.py
NS="sfperf$$"
cleanup() {
    for n in "$NS" "${NS}a" "${NS}b"; do
        ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null || true
        ip netns del "$n" 2>/dev/null || true
    done
}
trap cleanup EXIT
rate() { python3 -c "import json,sys; v=json.loads(sys.argv[1]); print('%.0f' % (v['bytes_in']*8/v['seconds']/1e6))" "$1"; }

ip netns add "$NS"
ip -n "$NS" link set lo up
run_tun() { # $1 = extra synfin flags
    local out
    # kernel -> synfin
    ip netns exec "$NS" "$SYNFIN" serve --tun sf0 --addr 198.18.0.2/24 --port 5000 --mode discard --count 1 --json $1 >/tmp/$NS.s 2>/dev/null &
    sleep 0.5
    ip netns exec "$NS" python3 "$PEER" client --to 198.18.0.2:5000 --send "$BYTES" --shutdown-write --read-all >/dev/null
    wait
    k2s=$(rate "$(cat /tmp/$NS.s)")
    # synfin -> kernel
    ip netns exec "$NS" "$SYNFIN" serve --tun sf0 --addr 198.18.0.2/24 --port 5000 --mode "source=$BYTES" --count 1 --json $1 >/dev/null 2>&1 &
    sleep 0.5
    out=$(ip netns exec "$NS" python3 "$PEER" client --to 198.18.0.2:5000 --read-all)
    wait
    s2k=$(rate "$out")
    echo "$k2s $s2k"
}
read -r a b < <(run_tun "")
read -r c d < <(run_tun "--offload")

ip netns add "${NS}a"; ip netns add "${NS}b"
ip link add sfva netns "${NS}a" type veth peer name sfvb netns "${NS}b"
ip -n "${NS}a" addr add 198.18.9.1/24 dev sfva; ip -n "${NS}a" link set sfva up; ip -n "${NS}a" link set lo up
ip -n "${NS}b" addr add 198.18.9.2/24 dev sfvb; ip -n "${NS}b" link set sfvb up; ip -n "${NS}b" link set lo up
ip netns exec "${NS}b" python3 "$PEER" server --port 5000 --read-all >/tmp/$NS.v 2>/dev/null &
sleep 0.5
ip netns exec "${NS}a" python3 "$PEER" client --to 198.18.9.2:5000 --send "$BYTES" --shutdown-write --read-all >/dev/null
wait
e=$(rate "$(cat /tmp/$NS.v)")
rm -f /tmp/$NS.s /tmp/$NS.v

echo "bytes per transfer: $BYTES"
echo "| path | Mbit/s |"
echo "|------|--------|"
echo "| kernel → synfin over TUN | $a |"
echo "| synfin → kernel over TUN | $b |"
echo "| kernel → synfin over TUN, offloads | $c |"
echo "| synfin → kernel over TUN, offloads | $d |"
echo "| kernel → kernel over veth | $e |"
