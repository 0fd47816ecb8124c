#!/usr/bin/env bash
# Goodput on a lossy path, side by side in one run (issue 9): kernel → synfin
# and synfin → kernel over synfin's TUN link, and kernel → kernel through
# `synfin bridge` (two TUN devices, each in its own network namespace). The
# path is the same link model for all three (synfin's `--loss/--delay/--rate`,
# applied in both directions): by default 100 Mbit/s, 10 ms each way (20 ms
# RTT) and 1 % random loss. Each path is measured RUNS times (seeds 1..RUNS
# for the link model, the same seeds for every path) and the median is
# reported, with the kernel's congestion control and its retransmission
# counters (from the sending namespace's /proc/net/{snmp,netstat}).
#
# Needs root and a release build (cargo build --release). Everything runs in
# network namespaces made here (198.18.0.0/24 for TUN, 198.18.2.0/24 for the
# bridge) and removed at the end, also on failure.
#
# Usage: scripts/goodput_compare.sh [--runs N] [--bytes B] [--loss P]
#          [--delay MS] [--rate MBIT] [--kernel-cc NAME] [--json]
# Defaults: 5 runs of 20 MiB per path (about 20 s each at 1 % loss: ~6 min).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=5
BYTES=$((20 * 1024 * 1024))
LOSS=0.01
DELAY=10
RATE=100
KCC=cubic
JSON=0
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) RUNS="$2"; shift 2 ;;
        --bytes) BYTES="$2"; shift 2 ;;
        --loss) LOSS="$2"; shift 2 ;;
        --delay) DELAY="$2"; shift 2 ;;
        --rate) RATE="$2"; shift 2 ;;
        --kernel-cc) KCC="$2"; shift 2 ;;
        --json) JSON=1; shift ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "goodput_compare: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [ "$(id -u)" != 0 ]; then
    echo "goodput_compare: needs root (network namespaces and TUN devices)" >&2
    exit 1
fi
SYNFIN="${SYNFIN:-target/release/synfin}"
[ -x "$SYNFIN" ] || { echo "goodput_compare: $SYNFIN missing: cargo build --release" >&2; exit 1; }
PEER=scripts/goodput_peer.py
MODEL=(--loss "$LOSS" --delay "$DELAY" --rate "$RATE")
NS="sfgp$$"
TMP=$(mktemp -d)
BRIDGE_PID=
cleanup() {
    [ -n "$BRIDGE_PID" ] && kill "$BRIDGE_PID" 2>/dev/null
    for n in "$NS" "${NS}a" "${NS}b"; do
        ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null || true
        ip netns del "$n" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

# A namespace with loopback up. (Its default congestion control is inherited
# from the host and may only be changed to an algorithm the host allows, so
# the kernel's sockets choose theirs with TCP_CONGESTION: goodput_peer.py --cc.)
mkns() {
    ip netns add "$1"
    ip -n "$1" link set lo up
}
# A namespace's TCP counters, one "$2:name value" per line ($2: snd or rcv,
# whether the kernel there sends or receives the bulk data).
counters() {
    ip netns exec "$1" cat /proc/net/snmp /proc/net/netstat | python3 -c '
import sys
lines = sys.stdin.read().split("\n")
want = {"Tcp:RetransSegs", "Tcp:OutSegs", "TcpExt:TCPTimeouts", "TcpExt:TCPLossProbes",
        "TcpExt:TCPSackRecovery", "TcpExt:TCPDSACKRecv", "TcpExt:TCPSpuriousRTOs",
        "TcpExt:TCPLossUndo", "TcpExt:TCPSackRecoveryFail", "TcpExt:TCPFullUndo",
        "TcpExt:TCPPartialUndo", "TcpExt:TCPDSACKUndo", "Tcp:InSegs",
        "TcpExt:TCPDSACKOldSent", "TcpExt:TCPDSACKOfoSent", "TcpExt:TCPOFOQueue"}
for a, b in zip(lines, lines[1:]):
    ka, kb = a.split(), b.split()
    # Header line ("Tcp: RtoAlgorithm ...") followed by its values ("Tcp: 1 ...").
    if len(ka) > 1 and len(kb) > 1 and ka[0] == kb[0] and not ka[1].isdigit() and kb[1].lstrip("-").isdigit():
        p = ka[0].rstrip(":")
        for k, v in zip(ka[1:], kb[1:]):
            if p + ":" + k in want:
                print(sys.argv[1] + ":" + p + ":" + k, v)' "$2"
}
wait_dev() { # $1 netns, $2 device
    for _ in $(seq 100); do
        ip -n "$1" link show "$2" >/dev/null 2>&1 && ip -n "$1" addr show "$2" | grep -q inet && return 0
        sleep 0.05
    done
    echo "goodput_compare: device $2 did not appear in $1" >&2
    return 1
}

mkns "$NS"
mkns "${NS}a"
mkns "${NS}b"
echo "goodput_compare: kernel $(uname -r), sockets ask for $KCC (namespace default: $(ip netns exec "$NS" sysctl -n net.ipv4.tcp_congestion_control))" >&2

# Each measurement appends one JSON line to $TMP/results:
# {"path": ..., "seed": ..., "bytes": ..., "seconds": ..., "counters": {...}}
record() { # $1 path, $2 seed, $3 receiver's JSON line, $4/$5 counters before/after, $6 kernel sender's line
    python3 - "$1" "$2" "$3" "$4" "$5" "$6" >>"$TMP/results" <<'EOF'
import json, sys
path, seed, line, before, after, ksend = sys.argv[1:]
v = json.loads(line)
k = json.loads(ksend)
def parse(s):
    return {k: int(x) for k, x in (l.split() for l in s.splitlines() if l.strip())}
b, a = parse(before), parse(after)
print(json.dumps({"path": path, "seed": int(seed), "bytes": v["bytes_in"], "seconds": v["seconds"],
                  "error": v.get("error"),
                  "kernel_cc": k.get("congestion_control") or v.get("congestion_control"),
                  "counters": {k: a[k] - b.get(k, 0) for k in a}}))
EOF
}

k2s() { # kernel → synfin over TUN
    local seed=$1 before after
    ip netns exec "$NS" "$SYNFIN" serve --tun sf0 --addr 198.18.0.2/24 --port 5000 --mode discard \
        --count 1 --json --seed "$seed" "${MODEL[@]}" >"$TMP/s" 2>"$TMP/s.err" &
    local pid=$!
    wait_dev "$NS" sf0
    before=$(counters "$NS" snd)
    ip netns exec "$NS" python3 "$PEER" send --to 198.18.0.2:5000 --bytes "$BYTES" --cc "$KCC" >"$TMP/ks"
    wait "$pid"
    after=$(counters "$NS" snd)
    record kernel_to_synfin "$seed" "$(cat "$TMP/s")" "$before" "$after" "$(cat "$TMP/ks")"
}
s2k() { # synfin → kernel over TUN
    local seed=$1 out before after
    ip netns exec "$NS" "$SYNFIN" serve --tun sf0 --addr 198.18.0.2/24 --port 5000 \
        --mode "source=$BYTES" --count 1 --json --seed "$seed" "${MODEL[@]}" >/dev/null 2>"$TMP/s.err" &
    local pid=$!
    wait_dev "$NS" sf0
    before=$(counters "$NS" rcv)
    out=$(ip netns exec "$NS" python3 "$PEER" recv --to 198.18.0.2:5000 --cc "$KCC")
    wait "$pid"
    after=$(counters "$NS" rcv)
    record synfin_to_kernel "$seed" "$out" "$before" "$after" "{}"
}
k2k() { # kernel → kernel through synfin bridge
    local seed=$1 before after
    "$SYNFIN" bridge --a "sfa@${NS}a" --a-addr 198.18.2.1/24 --b "sfb@${NS}b" --b-addr 198.18.2.2/24 \
        --seed "$seed" "${MODEL[@]}" 2>"$TMP/b.err" &
    BRIDGE_PID=$!
    wait_dev "${NS}a" sfa
    wait_dev "${NS}b" sfb
    ip netns exec "${NS}b" python3 "$PEER" server --port 5000 --cc "$KCC" >"$TMP/k" 2>/dev/null &
    local srv=$!
    sleep 0.3
    before="$(counters "${NS}a" snd; counters "${NS}b" rcv)"
    ip netns exec "${NS}a" python3 "$PEER" send --to 198.18.2.2:5000 --bytes "$BYTES" --cc "$KCC" >"$TMP/ks"
    wait "$srv"
    after="$(counters "${NS}a" snd; counters "${NS}b" rcv)"
    kill "$BRIDGE_PID"; wait "$BRIDGE_PID" 2>/dev/null || true
    BRIDGE_PID=
    record kernel_to_kernel "$seed" "$(cat "$TMP/k")" "$before" "$after" "$(cat "$TMP/ks")"
}

: >"$TMP/results"
start=$(date +%s)
for seed in $(seq "$RUNS"); do
    for p in k2s s2k k2k; do
        "$p" "$seed"
        tail -n1 "$TMP/results" | python3 -c 'import json,sys; v=json.loads(sys.stdin.read()); print("goodput_compare: %-17s seed %s: %.2f Mbit/s" % (v["path"], v["seed"], v["bytes"]*8/v["seconds"]/1e6))' >&2
    done
done
elapsed=$(( $(date +%s) - start ))

python3 - "$TMP/results" "$JSON" "$KCC" "$(uname -r)" "$BYTES" "$LOSS" "$DELAY" "$RATE" "$elapsed" <<'EOF'
import json, statistics, sys
results, as_json, kcc, kernel, nbytes, loss, delay, rate, elapsed = sys.argv[1:]
rows = [json.loads(l) for l in open(results) if l.strip()]
paths = ["kernel_to_synfin", "synfin_to_kernel", "kernel_to_kernel"]
label = {"kernel_to_synfin": "kernel → synfin (TUN)",
         "synfin_to_kernel": "synfin → kernel (TUN)",
         "kernel_to_kernel": "kernel → kernel (bridge)"}
summary = {}
for p in paths:
    rs = [r for r in rows if r["path"] == p]
    g = [r["bytes"] * 8 / r["seconds"] / 1e6 for r in rs]
    c = {}
    for r in rs:
        for k, v in r["counters"].items():
            c.setdefault(k, []).append(v)
    summary[p] = {"median_mbit": statistics.median(g), "runs_mbit": g,
                  "errors": [r["error"] for r in rs if r["error"]],
                  "kernel_counters_median": {k: statistics.median(v) for k, v in c.items()}}
meta = {"kernel": kernel, "kernel_congestion_control": kcc, "bytes_per_run": int(nbytes),
        "loss": float(loss), "one_way_delay_ms": int(delay), "rate_mbit": float(rate),
        "kernel_congestion_control_used": sorted({r["kernel_cc"] for r in rows if r.get("kernel_cc")}),
        "runs": len(rows) // 3, "elapsed_s": int(elapsed)}
if as_json == "1":
    print(json.dumps({"meta": meta, "paths": summary}))
    sys.exit(0)
print("path: %s Mbit/s, %s ms each way, %s %% loss each way (synfin's link model); %s bytes per run; "
      "kernel %s, congestion control %s; %d runs per path, %d s in all"
      % (rate, delay, float(loss) * 100, nbytes, kernel, ",".join(meta["kernel_congestion_control_used"]),
         meta["runs"], meta["elapsed_s"]))
print("%-26s %8s  %-32s %-28s %s" % ("path", "median", "runs (Mbit/s)", "kernel sender rexmit/RTO/TLP",
                                    "kernel receiver dup. segments"))
for p in paths:
    s = summary[p]
    k = s["kernel_counters_median"]
    ks = ("%g / %g / %g" % (k["snd:Tcp:RetransSegs"], k["snd:TcpExt:TCPTimeouts"], k["snd:TcpExt:TCPLossProbes"])
          if "snd:Tcp:RetransSegs" in k else "—")
    kr = ("%g" % (k["rcv:TcpExt:TCPDSACKOldSent"] + k["rcv:TcpExt:TCPDSACKOfoSent"])
          if "rcv:Tcp:InSegs" in k else "—")
    print("%-26s %8.2f  %-32s %-28s %s" % (label[p], s["median_mbit"], " ".join("%.2f" % x for x in s["runs_mbit"]),
                                          ks, kr))
    if s["errors"]:
        print("   errors: %s" % s["errors"])
EOF
