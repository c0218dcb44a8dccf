#!/usr/bin/python3
"""`edgeopt ingest` against a real mosquitto broker that is restarted in the middle.

Starts Debian's `mosquitto` on a free port with persistence in a temp dir, trains a small env_lstm
forecaster with `edgeopt train` (1 epoch on wsn-temperature), runs `edgeopt ingest` with a sliding
window of 24 readings on `sensors/+/env` and per-message inference on `windows/+` (binary payloads),
then publishes real readings (temperature, humidity of motes 1 and 2 from data/suthaharan-wsn,
standardized with the training statistics, as the model expects) at
QoS 1 with paho-mqtt (Debian python3-paho-mqtt), restarts the broker halfway, and checks:
  - every reading that completes a window got exactly one result, the warm-up readings none;
  - each result equals `edgeopt run` on the same window within 1e-5;
  - repeated reading ids (what a QoS-1 redelivery looks like) got no second result;
  - malformed JSON, a wrong value count, NaN and a string value got an error reply with a reason;
  - ingest started before the broker retried until it came up; it logged the reconnect after the
    restart, and its counters (SIGINT) add up;
  - against a minimal broker that never acknowledges, --max-pending 2 keeps 2 results and drops
    (logs, counts) the rest.

Usage: /usr/bin/python3 tests/mqtt_ingest_test.py --edgeopt build/src/cli/edgeopt
Exits 77 (skipped) when mosquitto or paho-mqtt is missing.
"""
import argparse
import csv
import json
import os
import pwd
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

try:
    import paho.mqtt.client as paho
except ImportError:
    print("SKIP: python3-paho-mqtt is not installed (apt-get install python3-paho-mqtt)")
    sys.exit(77)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
WINDOW = 24
PER_MOTE = 60          # readings per mote on the windowed topic
HALF = PER_MOTE // 2   # the broker restarts after this many readings per mote
FAILURES = []


def check(cond, what):
    print(("ok:   " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        FAILURES.append(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Broker:
    def __init__(self, tmp, port):
        self.port = port
        self.conf = os.path.join(tmp, "mosquitto.conf")
        os.makedirs(os.path.join(tmp, "persist"), exist_ok=True)
        with open(self.conf, "w") as f:
            # `user`: started as root, mosquitto would switch to user mosquitto, which cannot write
            # the persistence file in our temp dir (the session would silently not survive).
            f.write(f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
                    f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                    f"persistence_location {tmp}/persist/\nmax_queued_messages 100000\n"
                    f"log_dest file {tmp}/mosquitto.log\n")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([MOSQUITTO, "-c", self.conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_port(self.port):
            raise RuntimeError("mosquitto did not start listening")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # mosquitto writes its persistence file on SIGTERM
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def feature_stats(edgeopt):
    """The (mean, std) per feature that `edgeopt train` standardized wsn-temperature with: the model
    sees standardized (temperature, humidity), so a gateway publishes readings in that space."""
    p = subprocess.run([edgeopt, "data", "--data", "wsn-temperature"], capture_output=True, text=True, timeout=60)
    line = next(l for l in p.stdout.splitlines() if "normalization" in l)
    stats = {}
    for part in line.split(":", 1)[1].split(";"):
        name, ms = part.split()
        mean, std = ms.split("+-")
        stats[name] = (float(mean), float(std))
    return stats


def binary_payload(rid, x):
    """The binary reading form of docs/mqtt.md."""
    return b"F32\0" + struct.pack("<H", len(rid)) + rid.encode() + np.asarray(x, "<f4").tobytes()


def real_readings(stats):
    """Standardized (temperature, humidity) per mote, in reading order, from the bundled WSN data."""
    rows = {1: [], 2: [], 3: []}
    with open(os.path.join(ROOT, "data", "suthaharan-wsn", "single_hop.csv")) as f:
        for r in csv.DictReader(f):
            m = int(r["mote_id"])
            if m in rows:
                t = (float(r["temperature"]) - stats["temperature"][0]) / stats["temperature"][1]
                h = (float(r["humidity"]) - stats["humidity"][0]) / stats["humidity"][1]
                rows[m].append((int(r["reading"]), t, h))
    return {m: [(t, h) for _, t, h in sorted(v)] for m, v in rows.items()}


class Sink:
    """Collects results and error replies; a persistent session so nothing is lost across the restart."""

    def __init__(self, port):
        self.lock = threading.Lock()
        self.results, self.errors = [], []
        self.c = paho.Client(client_id="edgeopt-test-sink", clean_session=False)
        self.c.on_message = self.on_message
        self.c.on_connect = lambda c, u, f, rc: c.subscribe([("out/#", 1), ("err/#", 1)])
        self.c.reconnect_delay_set(min_delay=1, max_delay=2)
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()

    def on_message(self, c, u, m):
        with self.lock:
            (self.errors if m.topic.startswith("err/") else self.results).append((m.topic, m.payload))

    def counts(self):
        """Distinct (topic, payload) results and errors: QoS 1 may deliver one message twice."""
        with self.lock:
            return len(set(self.results)), len(set(self.errors))


class Source:
    def __init__(self, port):
        self.c = paho.Client(client_id="edgeopt-test-source", clean_session=False)
        self.c.reconnect_delay_set(min_delay=1, max_delay=2)
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        self.republished = 0

    def publish(self, topic, payload):
        """QoS 1 until PUBACK; a message not acknowledged (broker down) is published again, as a
        sensor would, which can reach ingest twice: the duplicate window must absorb that."""
        for attempt in range(100):
            while not self.c.is_connected():
                time.sleep(0.05)
            info = self.c.publish(topic, payload, qos=1)
            try:
                info.wait_for_publish(timeout=3)
                if info.is_published():
                    return
            except (RuntimeError, ValueError):  # paho raises when it was not connected
                pass
            self.republished += 1
            time.sleep(0.1)
        raise RuntimeError(f"could not publish to {topic}")


class SilentBroker:
    """A minimal MQTT 3.1.1 server that accepts the connection and subscriptions, delivers the
    given QoS-1 readings, and never acknowledges a publish: ingest's results stay unacknowledged,
    deterministically, so its --max-pending bound must drop (and count) the rest."""

    def __init__(self, readings):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.readings = readings  # (topic, payload bytes)
        self.results = 0          # result/error PUBLISH packets received
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    @staticmethod
    def varint(n):
        out = b""
        while True:
            b, n = n % 128, n // 128
            out += bytes([b | (0x80 if n else 0)])
            if not n:
                return out

    def read_packet(self, conn):
        head = conn.recv(1)
        if not head:
            return None, b""
        n, mult = 0, 1
        while True:
            b = conn.recv(1)[0]
            n += (b & 0x7F) * mult
            mult *= 128
            if not b & 0x80:
                break
        body = b""
        while len(body) < n:
            chunk = conn.recv(n - len(body))
            if not chunk:
                return None, b""
            body += chunk
        return head[0], body

    def serve(self):
        conn, _ = self.sock.accept()
        with conn:
            while True:
                kind, body = self.read_packet(conn)
                if kind is None:
                    return
                if kind >> 4 == 1:    # CONNECT -> CONNACK accepted, no session
                    conn.sendall(b"\x20\x02\x00\x00")
                elif kind >> 4 == 8:  # SUBSCRIBE -> SUBACK QoS 1, then the readings
                    conn.sendall(b"\x90\x03" + body[:2] + b"\x01")
                    for pid, (topic, payload) in enumerate(self.readings, start=1):
                        var = struct.pack(">H", len(topic)) + topic.encode() + struct.pack(">H", pid)
                        conn.sendall(b"\x32" + self.varint(len(var) + len(payload)) + var + payload)
                elif kind >> 4 == 3:  # PUBLISH from ingest: never acknowledged
                    self.results += 1
                elif kind >> 4 == 12:  # PINGREQ
                    conn.sendall(b"\xd0\x00")
                elif kind >> 4 == 14:  # DISCONNECT
                    return


def check_pending_bound(edgeopt, model, readings, tmp):
    """--max-pending 2 against a broker that never sends PUBACK: 2 results wait, the rest are
    dropped with an error line and the `dropped` counter; ingest still stops cleanly on SIGINT."""
    broker = SilentBroker([("windows/mote3", p) for p in readings])
    log_path = os.path.join(tmp, "ingest-bound.log")
    with open(log_path, "w") as log:
        p = subprocess.Popen([edgeopt, "ingest", "--broker", f"127.0.0.1:{broker.port}", "--sub", f"windows/+={model}",
                              "--client-id", "edgeopt-test-bound", "--max-pending", "2"],
                             stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            end = time.time() + 15
            while time.time() < end and broker.results < 2:
                time.sleep(0.05)
            time.sleep(0.5)
            p.send_signal(signal.SIGINT)
            out, _ = p.communicate(timeout=15)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    text = open(log_path).read()
    n = len(readings)
    check(f"results={n} " in out and f"pending=2 " in out and f"dropped={n - 2} " in out,
          f"--max-pending 2 without PUBACKs: {n} results, 2 pending, {n - 2} dropped ({out.strip()})")
    check("publishes await PUBACK (limit 2); dropping the message" in text, "the bound is logged as an error")
    check("2 publishes still await PUBACK at exit" in text, "exit reports what was never acknowledged")
    check(broker.results == 2, f"only 2 results were sent to the broker ({broker.results})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edgeopt", required=True)
    edgeopt = os.path.abspath(ap.parse_args().edgeopt)
    if not os.path.exists(MOSQUITTO):
        print("SKIP: mosquitto broker not installed")
        return 77
    t_start = time.time()
    tmp = tempfile.mkdtemp(prefix="edgeopt-mqtt-")
    procs = []
    broker = Broker(tmp, free_port())
    try:
        model = os.path.join(tmp, "lstm.onnx")
        p = subprocess.run([edgeopt, "train", "--model", "env_lstm", "--data", "wsn-temperature", "--epochs", "1",
                            "--width", "8", "--seed", "1", "--max-train", "4000", "--max-test", "200",
                            "--no-progress", "--out", model], capture_output=True, text=True, timeout=120)
        check(p.returncode == 0, f"edgeopt train env_lstm exits 0 ({p.stderr.strip()[-300:]!r})")
        if p.returncode != 0:
            return 1

        log_path = os.path.join(tmp, "ingest.log")
        stats_path = os.path.join(tmp, "stats.json")
        log = open(log_path, "w")
        ingest = subprocess.Popen(
            [edgeopt, "ingest", "--broker", f"127.0.0.1:{broker.port}",
             "--sub", f"sensors/+/env={model}", "--window", str(WINDOW),
             "--sub", f"windows/+={model},window=0",
             "--features", "temperature,humidity", "--out-prefix", "out", "--error-prefix", "err",
             "--client-id", "edgeopt-test-ingest", "--stats-json", stats_path],
            stdout=subprocess.PIPE, stderr=log, text=True)
        procs.append(ingest)
        # ingest starts before the broker: it must keep retrying, then connect.
        end = time.time() + 5
        while time.time() < end and "cannot reach broker" not in open(log_path).read():
            time.sleep(0.05)
        broker.start()
        sink = Sink(broker.port)
        source = Source(broker.port)
        end = time.time() + 10
        while time.time() < end and "connected to" not in open(log_path).read():
            time.sleep(0.05)
        text = open(log_path).read()
        check("cannot reach broker" in text and "connected to" in text,
              "ingest started before the broker retries with backoff, then connects")

        data = real_readings(feature_stats(edgeopt))
        sent = {}        # id -> (topic, the window it completes, or None while warming up)
        history = {1: [], 2: []}

        def send_reading(mote, i):
            t, h = data[mote][i]
            rid = f"m{mote}-{i:04d}"
            if mote == 1:  # named features, reordered by --features
                payload = json.dumps({"id": rid, "ts": i, "features": {"temperature": t, "humidity": h}})
            else:
                payload = json.dumps({"id": rid, "values": [t, h]})
            topic = f"sensors/mote{mote}/env"
            history[mote].append((np.float32(t), np.float32(h)))
            win = history[mote][-WINDOW:] if len(history[mote]) >= WINDOW else None
            sent[rid] = (topic, None if win is None else np.array(win, np.float32))
            source.publish(topic, payload)

        # Whole windows in one binary message (mote 3): per-message inference.
        binary_inputs = {}

        def send_binary(k):
            rows = data[3][k * 5:k * 5 + WINDOW]
            x = np.array(rows, np.float32)
            rid = f"w3-{k}"
            binary_inputs[rid] = x
            source.publish("windows/mote3", binary_payload(rid, x))

        for i in range(HALF):
            for mote in (1, 2):
                send_reading(mote, i)
        for k in range(3):
            send_binary(k)
        # Redeliveries: the same id again (ingest must not answer twice nor shift its window).
        for rid in ("m1-0025", "m2-0026", "m2-0010"):
            mote = int(rid[1])
            i = int(rid[3:])
            t, h = data[mote][i]
            source.publish(f"sensors/mote{mote}/env", json.dumps({"id": rid, "values": [t, h]}))

        # Restart the broker while results may still be in flight; readings sent right after it is
        # back may reach the broker before ingest has reconnected (they wait in its session).
        broker.stop()
        time.sleep(0.5)
        broker.start()
        for i in range(HALF, PER_MOTE):
            for mote in (1, 2):
                send_reading(mote, i)
        for k in range(3, 6):
            send_binary(k)
        bad = {
            "sensors/bad1/env": b'{"id": "bad-json", "values": [1, 2',
            "sensors/bad2/env": json.dumps({"id": "bad-len", "values": [1, 2, 3]}).encode(),
            "sensors/bad3/env": b"F32\0" + struct.pack("<H", 7) + b"bad-nan" + struct.pack("<2f", 45.0, float("nan")),
            "sensors/bad4/env": json.dumps({"id": "bad-str", "values": [1, "x"]}).encode(),
        }
        reasons = {"sensors/bad1/env": "malformed JSON", "sensors/bad2/env": "reading has 3 values",
                   "sensors/bad3/env": "value 1 (nan) is not a finite float32",
                   "sensors/bad4/env": "value 1 is string, not a number"}
        for topic, payload in bad.items():
            source.publish(topic, payload)

        want_results = sum(1 for _, w in sent.values() if w is not None) + len(binary_inputs)
        end = time.time() + 30
        while time.time() < end and sink.counts() != (want_results, len(bad)):
            time.sleep(0.1)
        time.sleep(0.5)  # anything extra (a second answer) would arrive now
        ingest.send_signal(signal.SIGINT)
        out, _ = ingest.communicate(timeout=15)
        check(ingest.returncode == 0, f"ingest exits 0 on SIGINT (got {ingest.returncode})")
        log.close()
        log_text = open(log_path).read()
        print("ingest log:\n  " + "\n  ".join(log_text.strip().splitlines()[-8:]))
        print("ingest stdout: " + out.strip())

        # Every completed window: exactly one result, equal to `edgeopt run` on the same window.
        # QoS 1 is at-least-once between ingest, the broker and this subscriber: around the restart
        # the same result message can arrive twice. A second *inference* would differ at least in
        # latency_ms, so identical bytes prove a redelivery, and a different payload a double answer.
        by_id, deliveries = {}, {}
        for topic, payload in sink.results:
            r = json.loads(payload)
            deliveries[r["id"]] = deliveries.get(r["id"], 0) + 1
            if (topic, r) not in by_id.setdefault(r["id"], []):
                by_id[r["id"]].append((topic, r))
        extra = {k: len(v) for k, v in by_id.items() if len(v) > 1}
        check(not extra, f"no reading was answered twice (different answers for: {extra})")
        redelivered = sum(n - 1 for n in deliveries.values())
        lat = [v[0][1]["latency_ms"] for v in by_id.values()] or [0.0]
        warm = [rid for rid, (_, w) in sent.items() if w is None and rid in by_id]
        check(not warm, f"readings that only fill the window get no result (got some for {warm[:5]})")
        ids = [rid for rid, (_, w) in sent.items() if w is not None] + list(binary_inputs)
        missing = [rid for rid in ids if rid not in by_id]
        check(not missing, f"all {len(ids)} readings that complete a window got a result (missing: {missing[:10]})")
        unknown = [k for k in by_id if k not in sent and k not in binary_inputs]
        check(not unknown, f"no result for an id that was never sent ({unknown[:5]})")

        xs = np.stack([sent[rid][1] if rid in sent else binary_inputs[rid] for rid in ids]).astype(np.float32)
        np.save(os.path.join(tmp, "x.npy"), xs)
        p = subprocess.run([edgeopt, "run", model, "--input", f"input={tmp}/x.npy", "--output-dir", f"{tmp}/ref"],
                           capture_output=True, text=True, timeout=120)
        check(p.returncode == 0, f"edgeopt run on the {len(ids)} windows exits 0 ({p.stderr.strip()[-200:]!r})")
        ref = np.load(os.path.join(tmp, "ref", "output.npy"))
        worst = 0.0
        for n, rid in enumerate(ids):
            if rid not in by_id:
                continue
            topic, r = by_id[rid][0]
            want_topic = "out/" + (sent[rid][0] if rid in sent else "windows/mote3")
            if topic != want_topic:
                check(False, f"{rid}: result on {topic}, expected {want_topic}")
            got = np.array(r["outputs"]["output"]["data"], np.float32)
            worst = max(worst, float(np.max(np.abs(got - ref[n]))))
            if r["model"] != "lstm" or not r["latency_ms"] >= 0:
                check(False, f"{rid}: result names model 'lstm' and a latency ({r})")
        check(worst <= 1e-5, f"results equal `edgeopt run` on the same windows: max |diff| = {worst:.3g} <= 1e-5")

        errs = {topic: json.loads(payload) for topic, payload in sink.errors}
        for topic, needle in reasons.items():
            e = errs.get("err/" + topic, {})
            check(needle in e.get("error", ""), f"{topic}: error reply says {needle!r} (got {e.get('error')!r})")
            check(e.get("topic") == topic, f"{topic}: error reply names the input topic")

        stats = json.load(open(stats_path))
        check("reconnected to" in log_text, "ingest logged the reconnect after the broker restart")
        check(stats["reconnects"] >= 1, f"counters: reconnects >= 1 ({stats['reconnects']})")
        check(stats["duplicates"] >= 3, f"counters: the 3 repeated ids were dropped as duplicates ({stats['duplicates']})")
        check(stats["errors"] == len(bad), f"counters: errors == {len(bad)} ({stats['errors']})")
        check(stats["results"] == want_results, f"counters: results == {want_results} ({stats['results']})")
        check(stats["published"] == stats["results"] + stats["errors"] and stats["pending"] == 0 and stats["dropped"] == 0,
              f"counters: every result and error acknowledged by the broker ({stats})")
        check(stats["received"] == stats["results"] + stats["errors"] + stats["duplicates"] + stats["buffered"],
              f"counters add up: received = results + errors + duplicates + buffered ({stats})")
        check("counters: received=" in out and "reconnects=" in out, "SIGINT prints the counters")
        print(f"published {len(sent) + len(binary_inputs) + 3 + len(bad)} messages ({source.republished} re-published "
              f"after the restart), {len(by_id)} results ({redelivered} delivered twice by QoS 1), {len(errs)} errors, "
              f"ingest latency_ms p50 {np.median(lat):.3f} max {max(lat):.3f}, in {time.time() - t_start:.1f} s")
        sink.c.loop_stop()
        source.c.loop_stop()
        check_pending_bound(edgeopt, model, [binary_payload(f"b-{k}", binary_inputs[f"w3-{k % 6}"]) for k in range(5)],
                            tmp)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print("FAILED:\n  " + "\n  ".join(FAILURES) if FAILURES else "all checks passed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
