#!/usr/bin/env python3
"""Code footprint of one connection lifecycle, for synfin and smoltcp.

Instruction counts (scripts/callgrind.sh) say how much work a lifecycle is;
they do not say how much *code* it runs. A lifecycle is mostly straight-line
code run once per packet or once per call, so its wall clock also depends on
whether that code fits the L1 instruction cache: code that does not is
fetched again from L2 on every lifecycle. This script measures both sides of
that:

- footprint: the instructions executed at least once per lifecycle on
  average (callgrind --dump-instr over N lifecycles, instructions run >= N
  times), as distinct 64-byte cache lines and as bytes of instructions, and
  the functions that hold most of those bytes;
- I1 misses per lifecycle, simulated by cachegrind with a 32 KiB and a
  64 KiB L1i with the associativity of this host's L1i as sysfs reports it
  (/sys/devices/system/cpu/cpu0/cache; 8-way where it says nothing, or
  --ways) ((misses at 2N - misses at N) / N, which cancels start-up). The
  host's own L1i geometry is printed with the table: on the AMD EPYC
  (family 26) hosts of stop 30 it is 32 KiB, 8-way, so the 32K column is
  the one that models the machine the wall-clock figures come from.

Per function it lists the hot bytes, the 64-byte lines they touch and the
waste (lines * 64 - hot bytes: cold code sharing the hot lines, the part
that moving rare branches out of line can reclaim).

Usage:
    scripts/footprint.py                       # synfin and smoltcp, 1000 lifecycles
    scripts/footprint.py --stacks synfin --top 40 --ways 4
    scripts/footprint.py --binary /tmp/other/release/synfin   # another build, not rebuilt
    scripts/footprint.py --json

Like callgrind.sh it runs with glibc's ERMS memcpy disabled, so both stacks'
copies are counted the same way.
"""

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "synfin")


def bench_args(stack, n):
    return [BIN, "bench", "--only", "lifecycles", "--stack", stack, "--repeat", "1",
            "--virtual-clock", "--json", "--lifecycles", str(n)]


def env():
    e = dict(os.environ)
    tun = "glibc.cpu.hwcaps=-ERMS"
    e["GLIBC_TUNABLES"] = f"{e['GLIBC_TUNABLES']}:{tun}" if e.get("GLIBC_TUNABLES") else tun
    return e


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env())
    if p.returncode != 0:
        sys.exit(f"footprint.py: {' '.join(cmd[:3])} failed:\n{p.stderr[-2000:]}")
    return p.stderr


def host_l1i():
    """(bytes, ways) of cpu0's level-1 instruction cache from sysfs, or None."""
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for idx in sorted(os.listdir(base)):
            d = os.path.join(base, idx)
            if not idx.startswith("index"):
                continue
            read = lambda name: open(os.path.join(d, name)).read().strip()
            if read("level") == "1" and read("type") == "Instruction":
                size = read("size")
                kib = int(size[:-1]) if size.endswith("K") else int(size) // 1024
                return kib * 1024, int(read("ways_of_associativity"))
    except (OSError, ValueError):
        return None
    return None


def i1_misses(stack, n, size, ways):
    """I1 misses of a whole run with an L1i of `size` bytes, `ways`-way, 64-byte lines."""
    log = run(["valgrind", "--tool=cachegrind", "--cache-sim=yes", f"--I1={size},{ways},64",
               "--cachegrind-out-file=/dev/null"] + bench_args(stack, n))
    m = re.search(r"I1\s+misses:\s+([\d,]+)", log)
    if not m:
        sys.exit(f"footprint.py: no I1 count for {stack}")
    return int(m.group(1).replace(",", ""))


def footprint(stack, n, tmp):
    """(lines, bytes, {function: (bytes, lines)}) of the code run >= n times in n lifecycles."""
    out = os.path.join(tmp, f"{stack}.cg")
    run(["valgrind", "--tool=callgrind", "--dump-instr=yes", "--compress-pos=no",
         "--compress-strings=no", f"--callgrind-out-file={out}"] + bench_args(stack, n))
    count = collections.Counter()
    owner = {}
    fn = "?"
    call_line = False
    with open(out) as f:
        for line in f:
            if line.startswith("fn="):
                fn = line[3:].strip()
            elif line.startswith("calls="):
                # The next cost line is the call's inclusive cost, charged to
                # the call instruction: the address counts, the cost does not.
                call_line = True
            elif line.startswith("0x"):
                parts = line.split()
                addr = int(parts[0], 16)
                owner.setdefault(addr, fn)
                if call_line:
                    call_line = False
                    count[addr] += 0
                else:
                    count[addr] += int(parts[2]) if len(parts) > 2 else 0
    addrs = sorted(count)
    # An instruction's size is the gap to the next known address (at most
    # 15 bytes, x86's longest instruction).
    size = {a: min(b - a, 15) for a, b in zip(addrs, addrs[1:])}
    hot = [a for a in addrs if count[a] >= n]
    per_fn = collections.Counter()
    fn_lines = collections.defaultdict(set)
    for a in hot:
        per_fn[owner[a]] += size.get(a, 4)
        fn_lines[owner[a]].add(a // 64)
    lines = len({a // 64 for a in hot})
    return lines, sum(size.get(a, 4) for a in hot), {k: (v, len(fn_lines[k])) for k, v in per_fn.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stacks", nargs="+", default=["synfin", "smoltcp"])
    ap.add_argument("--lifecycles", type=int, default=1000)
    ap.add_argument("--top", type=int, default=15, help="functions listed per stack")
    ap.add_argument("--ways", type=int, default=None,
                    help="L1i associativity simulated (default: this host's, else 8)")
    ap.add_argument("--binary", help="measure this synfin binary instead of building target/release")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    host = host_l1i()
    if a.ways is None:
        a.ways = host[1] if host else 8
        if a.ways not in (1, 2, 4, 8, 16):
            # The simulated 32 KiB and 64 KiB caches need a power-of-two
            # number of sets.
            print(f"footprint.py: this host's L1i is {a.ways}-way; simulating 8-way",
                  file=sys.stderr)
            a.ways = 8
    if a.ways not in (1, 2, 4, 8, 16):
        sys.exit("footprint.py: --ways must be 1, 2, 4, 8 or 16")
    if a.lifecycles < 100:
        sys.exit("footprint.py: --lifecycles must be at least 100")
    if not shutil.which("valgrind"):
        sys.exit("footprint.py: valgrind is not installed (apt-get install valgrind)")
    cargo = ["cargo", "build", "--release", "--quiet"]
    if "smoltcp" in a.stacks:
        cargo += ["--features", "bench-smoltcp"]
    global BIN
    if a.binary:
        if not os.access(a.binary, os.X_OK):
            sys.exit(f"footprint.py: {a.binary} is not an executable")
        BIN = a.binary
    else:
        subprocess.run(cargo, cwd=ROOT, check=True)
    n = a.lifecycles
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for stack in a.stacks:
            print(f"footprint.py: {stack}...", file=sys.stderr)
            lines, nbytes, per_fn = footprint(stack, n, tmp)
            misses = {}
            for size in (32768, 65536):
                m1 = i1_misses(stack, n, size, a.ways)
                m2 = i1_misses(stack, 2 * n, size, a.ways)
                misses[size] = (m2 - m1) / n
            rows.append({
                "stack": stack,
                "lines": lines,
                "kib": lines * 64 / 1024,
                "bytes": nbytes,
                "i1_misses_32k": misses[32768],
                "i1_misses_64k": misses[65536],
                "functions": [
                    {"name": k, "bytes": b, "lines": l, "waste": l * 64 - b}
                    for k, (b, l) in sorted(per_fn.items(), key=lambda kv: -kv[1][0])[:a.top]
                ],
            })
    if a.json:
        for r in rows:
            r["ways"] = a.ways
            r["host_l1i"] = {"bytes": host[0], "ways": host[1]} if host else None
            print(json.dumps(r))
        return
    if host:
        print(f"host L1i (sysfs): {host[0] // 1024} KiB, {host[1]}-way")
    print(f"{'stack':8} {'64-B lines':>10} {'KiB':>6} {'instr bytes':>11} "
          f"{'I1 miss/lc 32K':>15} {'64K':>6}  ({a.ways}-way)")
    for r in rows:
        print(f"{r['stack']:8} {r['lines']:10d} {r['kib']:6.1f} {r['bytes']:11d} "
              f"{r['i1_misses_32k']:15.1f} {r['i1_misses_64k']:6.1f}")
    for r in rows:
        print(f"\n{r['stack']}: code run at least once per lifecycle, by function")
        print(f"{'bytes':>7} {'lines':>5} {'waste':>6}  function")
        for f in r["functions"]:
            print(f"{f['bytes']:7d} {f['lines']:5d} {f['waste']:6d}  {f['name'][:100]}")


if __name__ == "__main__":
    main()
