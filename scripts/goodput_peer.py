#!/usr/bin/env python3
"""The kernel's end of scripts/goodput_compare.sh: plain kernel TCP sockets
with the congestion control chosen per socket (TCP_CONGESTION; a network
namespace may not change its default to an algorithm outside
net.ipv4.tcp_allowed_congestion_control, a socket of root may).

    goodput_peer.py send --to IP:PORT --bytes N [--cc NAME]  connect, send N bytes, half-close, wait for EOF
    goodput_peer.py recv --to IP:PORT [--cc NAME]            connect, read to EOF
    goodput_peer.py server --port P [--cc NAME]              accept one connection, read to EOF

Prints one JSON line: bytes_in, bytes_out, seconds (from the connection's
establishment to EOF), congestion_control (as the socket reports it) and,
for a sender, tcp_info's total_retrans and segs_out.
"""

import argparse
import json
import os
import socket
import struct
import sys
import time

BLOCK = os.urandom(1 << 20)


def set_cc(s, cc):
    if cc:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, cc.encode())


def get_cc(s):
    return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16).split(b"\0")[0].decode()


def tcp_info(s):
    """total_retrans and segs_out from struct tcp_info (linux/tcp.h)."""
    b = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    out = {}
    if len(b) >= 104:
        out["total_retrans"] = struct.unpack_from("I", b, 100)[0]
    if len(b) >= 140:
        out["segs_out"] = struct.unpack_from("I", b, 136)[0]
    return out


def run(s, a, send):
    started = time.time()
    sent = got = 0
    if send:
        left = a.bytes
        while left > 0:
            chunk = BLOCK[: min(left, len(BLOCK))]
            s.sendall(chunk)
            sent += len(chunk)
            left -= len(chunk)
        s.shutdown(socket.SHUT_WR)
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        got += len(b)
    seconds = time.time() - started
    report = {"bytes_in": got, "bytes_out": sent, "seconds": seconds,
              "congestion_control": get_cc(s), "error": None}
    if send:
        report.update(tcp_info(s))
    s.close()
    print(json.dumps(report), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["send", "recv", "server"])
    p.add_argument("--to", default="")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--bytes", type=int, default=0)
    p.add_argument("--cc", default="")
    p.add_argument("--timeout", type=float, default=300)
    a = p.parse_args()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    set_cc(s, a.cc)
    if a.role == "server":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("", a.port))
        s.listen(1)
        print("ready", file=sys.stderr, flush=True)
        c, _ = s.accept()
        s.close()
        c.settimeout(a.timeout)
        run(c, a, False)
        return
    host, port = a.to.rsplit(":", 1)
    s.settimeout(a.timeout)
    s.connect((host, int(port)))
    run(s, a, a.role == "send")


if __name__ == "__main__":
    main()
