#!/usr/bin/python3
"""A TCP relay that adds a fixed one-way delay in each direction, so a link gets RTT + 2 * delay.

    delay_relay.py --listen 10.231.0.2:9000 --to 127.0.0.1:8080 --delay-ms 10

Stands in for `tc netem delay`, which this kernel lacks ("Specified qdisc kind is unknown"). Every
chunk read is forwarded `delay` after it arrived, in order, while later chunks keep arriving: the
delay is added without limiting throughput (the link's rate comes from tc tbf). Prints
"READY host:port" once listening.
"""
import argparse
import asyncio
import os
import sys
import time


def current_delay(delay):
    """The delay in seconds: a number, or a callable re-read per chunk (--delay-file)."""
    return delay() if callable(delay) else delay


async def pump(reader, writer, delay):
    q = asyncio.Queue()

    async def sender():
        while True:
            due, data = await q.get()
            if data is None:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()

    task = asyncio.create_task(sender())
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            q.put_nowait((time.monotonic() + current_delay(delay), data))
    except (ConnectionError, OSError):
        pass
    q.put_nowait((0, None))
    try:
        await task
    except (ConnectionError, OSError):
        pass


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--to", required=True)
    ap.add_argument("--delay-ms", type=float, required=True, help="one-way delay added in each direction")
    ap.add_argument("--delay-file", help="re-read the delay (ms, a number) from this file for every chunk when it exists: "
                                         "the link can be made slow and fast again without dropping connections")
    a = ap.parse_args()
    lhost, lport = a.listen.rsplit(":", 1)
    thost, tport = a.to.rsplit(":", 1)
    delay = a.delay_ms / 1000.0
    if a.delay_file:
        fixed, cache = delay, {"mtime": None, "value": delay}

        def delay():
            try:
                m = os.stat(a.delay_file).st_mtime_ns
                if m != cache["mtime"]:
                    cache["mtime"], cache["value"] = m, float(open(a.delay_file).read().strip()) / 1000.0
            except (OSError, ValueError):
                cache["mtime"], cache["value"] = None, fixed
            return cache["value"]

    async def handle(cr, cw):
        try:
            sr, sw = await asyncio.open_connection(thost, int(tport))
        except OSError:
            cw.close()
            return
        await asyncio.gather(pump(cr, sw, delay), pump(sr, cw, delay))

    server = await asyncio.start_server(handle, lhost, int(lport))
    print(f"READY {a.listen}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
