#!/usr/bin/env python3
"""The Linux kernel's side of the interop tests: plain kernel TCP sockets.

    peer.py server --port P [options]     accept --count connections
    peer.py client --to IP:PORT [options] one connection
    peer.py many --to IP:PORT --n N       N concurrent echo connections
    peer.py txn-client --to IP:PORT --n N the transaction-total protocol,
    peer.py txn-server --port P           byte-stream form (docs/INTEROP.md)

Each connection prints one JSON line on stdout with the same fields as
`synfin serve/connect --json` (bytes_in, bytes_out, sha256_in, sha256_out,
peer_close, error); errors are errno names (ECONNRESET, ECONNREFUSED, ...).
A server prints "ready" on stderr once it listens.
"""

import argparse
import errno
import hashlib
import json
import os
import selectors
import socket
import struct
import sys
import threading
import time

BLOCK = os.urandom(1 << 20)


class NoHash:
    def update(self, b):
        pass

    def hexdigest(self):
        return None


def err_name(e):
    if isinstance(e, OSError) and e.errno is not None:
        return errno.errorcode.get(e.errno, str(e.errno))
    return type(e).__name__


class Conn:
    def __init__(self, sock, args, peer):
        self.s, self.a, self.peer = sock, args, peer
        self.bytes_in = self.bytes_out = 0
        # --no-hash (throughput runs): a hasher that does nothing.
        if args.no_hash:
            self.sha_in = self.sha_out = NoHash()
        else:
            self.sha_in, self.sha_out = hashlib.sha256(), hashlib.sha256()
        self.peer_close, self.error = "none", None
        self.started = time.time()

    def fail(self, e):
        if isinstance(e, OSError) and e.errno in (errno.ECONNRESET, errno.EPIPE):
            self.peer_close = "rst"
        # A reset is reported once (ECONNRESET) to whichever of the sending
        # and the reading thread asks first; the other then sees EPIPE or
        # end-of-stream. Report the reset, whichever thread records first.
        if self.error is None or (isinstance(e, OSError) and e.errno == errno.ECONNRESET):
            self.error = err_name(e)

    def send_all(self):
        left = self.a.send
        try:
            while left > 0:
                chunk = BLOCK[: min(left, len(BLOCK))]
                self.s.sendall(chunk)
                self.sha_out.update(chunk)
                self.bytes_out += len(chunk)
                left -= len(chunk)
            if self.a.shutdown_write:
                self.s.shutdown(socket.SHUT_WR)
        except OSError as e:
            self.fail(e)

    def read_all(self):
        if self.a.sleep_before_read:
            time.sleep(self.a.sleep_before_read)
        try:
            while True:
                if self.a.abort_after_read and self.bytes_in >= self.a.abort_after_read:
                    return
                b = self.s.recv(1 << 20)
                if not b:
                    if self.peer_close != "rst":
                        self.peer_close = "fin"
                    return
                self.sha_in.update(b)
                self.bytes_in += len(b)
        except OSError as e:
            self.fail(e)

    def run(self):
        a = self.a
        if a.order == "read-then-send":
            self.read_all()
            self.send_all()
        else:
            t = threading.Thread(target=self.send_all)
            t.start()
            if a.read_all or a.abort_after_read:
                self.read_all()
            t.join()
        if a.hold:
            time.sleep(a.hold)
        if a.close == "abort" or a.abort_after_read:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.s.close()
        if self.error in ("ECONNRESET", "EPIPE"):
            self.peer_close = "rst"
        print(json.dumps({
            "peer": "%s:%d" % self.peer[:2],
            "bytes_in": self.bytes_in, "bytes_out": self.bytes_out,
            "sha256_in": self.sha_in.hexdigest(), "sha256_out": self.sha_out.hexdigest(),
            "peer_close": self.peer_close, "error": self.error,
            "seconds": time.time() - self.started,
        }), flush=True)


def new_socket(a, family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_STREAM)
    if a.rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, a.rcvbuf)
    return s


def server(a):
    ls = new_socket(a)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("", a.port))
    ls.listen(128)
    print("ready", file=sys.stderr, flush=True)
    for _ in range(a.count):
        s, peer = ls.accept()
        s.settimeout(a.timeout)
        Conn(s, a, peer).run()
    ls.close()


def client(a):
    host, port = a.to.rsplit(":", 1)
    s = new_socket(a)
    s.settimeout(a.timeout)
    try:
        s.connect((host, int(port)))
    except OSError as e:
        # A peer that accepts and resets at once can beat connect()'s return
        # to userspace: that is a reset connection, not a failed connect.
        reset = e.errno == errno.ECONNRESET
        print(json.dumps({"peer": a.to, "bytes_in": 0, "bytes_out": 0,
                          "peer_close": "rst" if reset else "none",
                          "error": err_name(e)}), flush=True)
        return
    Conn(s, a, (host, int(port))).run()


def many(a):
    """N connections open at once: connects are paced (--pace-ms apart), and
    only once all N are established does each send a.bytes, half-close and
    read the echo back to the end. Reports how many came back intact and the
    most connections that were open at the same time."""
    host, port = a.to.rsplit(":", 1)
    sel = selectors.DefaultSelector()
    payload = BLOCK[: a.bytes]
    state, errors = {}, {}
    connected = 0

    def drop(s, why):
        errors[why] = errors.get(why, 0) + 1
        sel.unregister(s)
        s.close()
        del state[s]

    def poll(timeout):
        nonlocal connected
        for key, ev in sel.select(timeout=timeout):
            s, st = key.fileobj, state[key.fileobj]
            try:
                if not st["up"]:
                    e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if e:
                        drop(s, errno.errorcode.get(e, str(e)))
                        continue
                    st["up"] = True
                    connected += 1
                    sel.modify(s, selectors.EVENT_READ)
                    continue
                b = s.recv(65536)
                if b:
                    st["got"] += b
                    continue
                if bytes(st["got"]) == payload:
                    st["ok"] = True
                else:
                    errors["short"] = errors.get("short", 0) + 1
                sel.unregister(s)
                s.close()
                del state[s]
                done.append(1)
            except BlockingIOError:
                pass
            except OSError as e:
                drop(s, err_name(e))

    done = []
    deadline = time.time() + a.timeout
    for i in range(a.n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex((host, int(port)))
        state[s] = {"got": bytearray(), "up": False}
        sel.register(s, selectors.EVENT_WRITE)
        poll(a.pace_ms / 1000.0)
    while connected + sum(errors.values()) < a.n and time.time() < deadline:
        poll(0.2)
    peak = connected
    for s, st in list(state.items()):
        if st["up"]:
            s.setblocking(True)
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            s.setblocking(False)
    while state and time.time() < deadline:
        poll(0.2)
    print(json.dumps({"ok": len(done) - errors.get("short", 0), "errors": errors,
                      "unfinished": len(state), "concurrent": peak}), flush=True)


def txn_report(peer, n, total, grand, error):
    print(json.dumps({"peer": peer, "transactions": n, "total": total,
                      "grand_total": grand, "error": error}), flush=True)


def txn_client(a):
    """Sends --n transactions "TXN i amount" as lines, checks each "OK
    tally", then "TOTAL t" and the FIN, and expects "GRAND g" (g >= t) and
    the FIN."""
    import random
    rng = random.Random(a.seed)
    host, port = a.to.rsplit(":", 1)
    total, done, grand = 0, 0, None
    try:
        s = socket.create_connection((host, int(port)), timeout=a.timeout)
        f = s.makefile("rb")
        for i in range(1, a.n + 1):
            amount = rng.randint(1, 999)
            s.sendall(b"TXN %d %d\n" % (i, amount))
            total += amount
            line = f.readline().decode().rstrip("\n")
            if line != "OK %d" % total:
                raise ValueError("answer %r to transaction %d, expected OK %d" % (line, i, total))
            done += 1
        s.sendall(b"TOTAL %d\n" % total)
        s.shutdown(socket.SHUT_WR)
        line = f.readline().decode().rstrip("\n")
        if not line.startswith("GRAND "):
            raise ValueError("%r instead of GRAND" % line)
        grand = int(line[6:])
        if f.read() != b"":
            raise ValueError("data after GRAND")
        if grand < total:
            raise ValueError("grand total %d < total %d" % (grand, total))
        s.close()
        txn_report(a.to, done, total, grand, None)
    except (OSError, ValueError) as e:
        txn_report(a.to, done, total, grand, str(e) if isinstance(e, ValueError) else err_name(e))


def txn_server(a):
    """Answers transactions with the running tally; on "TOTAL t" and the
    FIN checks t, adds it to the grand total and answers "GRAND g"."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("", a.port))
    ls.listen(128)
    print("ready", file=sys.stderr, flush=True)
    grand = 0
    for _ in range(a.count):
        s, peer = ls.accept()
        s.settimeout(a.timeout)
        f = s.makefile("rb")
        tally, n, total, error = 0, 0, None, None
        try:
            while True:
                line = f.readline()
                if not line:
                    break
                text = line.decode().rstrip("\n")
                if text.startswith("TOTAL "):
                    total = int(text[6:])
                    continue
                word, i, amount = text.split(" ")
                if word != "TXN" or int(i) != n + 1 or total is not None:
                    raise ValueError("unexpected %r" % text)
                tally += int(amount)
                n += 1
                s.sendall(b"OK %d\n" % tally)
            if total != tally:
                raise ValueError("total %r, tally %d" % (total, tally))
            grand += total
            s.sendall(b"GRAND %d\n" % grand)
            s.close()
        except (OSError, ValueError) as e:
            error = str(e) if isinstance(e, ValueError) else err_name(e)
            s.close()
        txn_report("%s:%d" % peer[:2], n, tally, grand if error is None else None, error)
    ls.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["server", "client", "many", "txn-client", "txn-server"])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--to", default="")
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--send", type=int, default=0)
    p.add_argument("--shutdown-write", action="store_true")
    p.add_argument("--read-all", action="store_true")
    p.add_argument("--order", choices=["concurrent", "read-then-send"], default="concurrent")
    p.add_argument("--close", choices=["graceful", "abort"], default="graceful")
    p.add_argument("--abort-after-read", type=int, default=0)
    p.add_argument("--hold", type=float, default=0)
    p.add_argument("--sleep-before-read", type=float, default=0)
    p.add_argument("--rcvbuf", type=int, default=0)
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--n", type=int, default=1)
    p.add_argument("--bytes", type=int, default=1000)
    p.add_argument("--pace-ms", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-hash", action="store_true")
    a = p.parse_args()
    {"server": server, "client": client, "many": many,
     "txn-client": txn_client, "txn-server": txn_server}[a.role](a)


if __name__ == "__main__":
    main()
