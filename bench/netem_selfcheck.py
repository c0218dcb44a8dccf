#!/usr/bin/python3
"""Checks the network emulation that bench/split_netem.py relies on, in a few seconds: builds the two
namespaces, shapes the veth with tc tbf at 10 Mbit/s, puts bench/delay_relay.py (10 ms each way)
in front of a sink server in the cloud namespace, and measures from the edge namespace:
  - the RTT of a 1-byte exchange is 20-60 ms (the relay's 2 x 10 ms plus scheduling; best of 5);
  - a 256 KB upload runs at 4-11 Mbit/s (best of 3; unshaped, the veth moves > 1 Gbit/s);
  - at 100 Mbit/s the same upload is at least 2.5x faster (the shaping follows `tc qdisc replace`);
then removes everything and checks nothing is left (namespaces, cgroup). Exit 77 when namespaces
cannot be made (not root, no CAP_NET_ADMIN).

    sudo bench/netem_selfcheck.py
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import split_netem as ne  # noqa: E402

SINK = r'''
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 7000)); s.listen(4); print("READY", flush=True)
while True:
    c, _ = s.accept()
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        hdr = c.recv(8, socket.MSG_WAITALL)
        if len(hdr) < 8: break
        n = int.from_bytes(hdr, "big"); got = 0
        while got < n:
            b = c.recv(min(65536, n - got))
            if not b: break
            got += len(b)
        c.sendall(b"k")
    c.close()
'''

CLIENT = r'''
import socket, sys, time
c = socket.create_connection((sys.argv[1], 9000)); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
def xfer(n):
    t = time.monotonic(); c.sendall(n.to_bytes(8, "big") + b"x" * n); c.recv(1); return (time.monotonic() - t) * 1000
for _ in range(3): xfer(1)
rtt = min(xfer(1) for _ in range(5))
big = min(xfer(262144) for _ in range(3))
print(f"{rtt:.3f} {big:.3f}")
'''

FAILED = []


def check(cond, what):
    print(("ok:   " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        FAILED.append(what)


def measure():
    r = subprocess.run(["ip", "netns", "exec", ne.NS_E, "/usr/bin/python3", "-c", CLIENT, ne.IP_C],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-500:])
    rtt, big = (float(x) for x in r.stdout.split())
    return rtt, big


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root for network namespaces and tc")
        return 77
    try:
        ne.setup(1.0)
    except (RuntimeError, OSError) as e:
        ne.cleanup()
        print(f"SKIP: cannot build the emulated network: {e}")
        return 77
    try:
        sink = ne.spawn(["/usr/bin/python3", "-c", SINK], ne.NS_C, subprocess.PIPE)
        sink.stdout.readline()
        relay = ne.spawn(["/usr/bin/python3", os.path.join(ne.HERE, "delay_relay.py"), "--listen", f"{ne.IP_C}:9000",
                          "--to", "127.0.0.1:7000", "--delay-ms", "10"], ne.NS_C, subprocess.PIPE)
        relay.stdout.readline()
        ne.shape(10)
        rtt, big = measure()
        rate = 262144 * 8 / ((big - rtt) / 1000) / 1e6
        check(20 <= rtt <= 60, f"RTT through the relay {rtt:.2f} ms (2 x 10 ms added)")
        check(4 <= rate <= 11, f"upload rate at tbf 10 Mbit/s: {rate:.2f} Mbit/s (256 KB in {big:.1f} ms)")
        ne.shape(100)
        rtt100, big100 = measure()
        check(big100 * 2.5 <= big, f"at 100 Mbit/s the upload takes {big100:.1f} ms (vs {big:.1f} ms at 10)")
    finally:
        ne.cleanup()
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    check(ne.NS_E not in left and ne.NS_C not in left and not os.path.isdir(ne.CGROUP),
          "namespaces, veth and cgroup removed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
