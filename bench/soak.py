#!/usr/bin/env python3
"""Soak of an edge node: `edgeopt serve`, `edgeopt offload` and `edgeopt ingest` under steady load for
--minutes (default 30), with periodic model swaps, cloud outages and broker restarts.

  /usr/bin/python3 bench/soak.py build/src/cli/edgeopt [--minutes 30] [--json soak.json]

What runs (every process on 127.0.0.1 and free ports, all stopped at the end, also on Ctrl-C):
- edge `edgeopt serve` (auth tokens on, SHA256SUMS manifest required) with vision_cnn (two variants A
  and B, trained briefly on Fashion-MNIST), under --rate requests/s from --clients threads, each
  request with its own id. Every request is accounted: 200 (its id echoed, its output equal to the
  answering version's model within 1e-4), a documented rejection (429 queue full / 503 stopping:
  "rejected"), or lost (timeout, connection error, any other status).
- model swaps every --swap-s: a new version folder (A and B alternating), the manifest updated, then
  `POST /v2/repository/models/vision_cnn/load`; before it the same call without a token must get 401
  and with the infer token 403; after it the model's metadata must list the new version only.
- cloud outages every --outage-every-s for --outage-s: the cloud `edgeopt serve` (serving the cloud
  halves of a vision_cnn split at cut 3, tokens on) is killed (SIGKILL and SIGTERM alternating) and
  restarted on the same port, while `edgeopt offload --cut 3` sends --offload-interval-ms paced
  requests to it for the whole run; offload must answer every request (edge fallback) with both
  cloud and local answers seen.
- broker restarts every --broker-every-s: a real mosquitto (persistence on) is stopped (SIGTERM) and
  started again while a QoS-1 publisher feeds --mqtt-rate real WSN readings/s (two motes, each
  reading with an id, re-published until PUBACK as a sensor does) to `edgeopt ingest` (env_lstm,
  window 24); every acknowledged reading that completes a window must get exactly one result.
- RSS of every edgeopt process sampled every --rss-every-s. Warm-up = the first 10% of the run;
  growth = median of the last 10% vs median of the 10% right after warm-up, must be < 5% for the
  long-lived processes (edge serve, offload, ingest; the cloud restarts, so it is reported only).
  The table also shows the second half's growth (median of 50-60% of the run vs the last 10%).
  Bounded state fills during warm-up: the soak sets the server's --feedback-capacity and ingest's
  --dedupe-window so their rings are full by then, and sizes the server's HTTP pool for its
  clients (--http-threads 32): each pool thread keeps its stack pages and malloc caches after its
  first connection, so RSS rises until every pool thread has served once (with the default 128
  threads and 4 clients that takes ~6 minutes at 40 requests/s). Runs shorter than --rss-check-min
  minutes (default 10) report growth without checking it: the server's ring of the last 4096
  requests' inputs alone takes ~100 s to fill at 40 requests/s.
Prints progress lines, a final table, writes JSON (--json); exit status 1 if any check fails, 77
(skipped) without mosquitto or paho-mqtt.
"""
import argparse
import hashlib
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
from edgeopt_serve import ServeProcess, rss_kb  # noqa: E402  (one serve harness for tests and bench)

try:
    import paho.mqtt.client as paho
except ImportError:
    paho = None
if paho is not None:
    # The broker, QoS-1 publisher and WSN readings of the MQTT end-to-end test.
    from mqtt_ingest_test import Broker, Source, feature_stats, free_port, real_readings, MOSQUITTO  # noqa: E402

WINDOW = 24
INFER_TOKEN = "soak-infer-" + os.urandom(8).hex()
ADMIN_TOKEN = "soak-admin-" + os.urandom(8).hex()
PROCS = []  # every subprocess we start: stopped in cleanup()


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def run(cmd, timeout=600):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("%s failed:\n%s" % (" ".join(cmd), (r.stderr or r.stdout)[-3000:]))
    return r


class Counter:
    def __init__(self):
        self.lock = threading.Lock()
        self.c = {}
        self.examples = {}

    def add(self, key, example=None):
        with self.lock:
            self.c[key] = self.c.get(key, 0) + 1
            if example and len(self.examples.setdefault(key, [])) < 5:
                self.examples[key].append(example)

    def get(self, key):
        with self.lock:
            return self.c.get(key, 0)


# ------------------------------------------------------------------------------------------------ serve
class EdgeServe:
    """The edge server's repository: vision_cnn versions alternating between models A and B."""

    def __init__(self, work, edgeopt, model_a, model_b, feedback_capacity):
        self.repo = os.path.join(work, "edge_repo")
        self.mdir = os.path.join(self.repo, "vision_cnn")
        os.makedirs(self.mdir, exist_ok=True)
        self.models = {1: model_a, 0: model_b}  # version parity -> file
        self.version = 0
        self.write_version(1)
        self.server = ServeProcess(edgeopt, self.repo, [
            "--poll-s", "0", "--threads", "2", "--max-queue", "64", "--http-threads", "32", "--auth-tokens", tokens_file(work),
            "--require-manifest", "--feedback-capacity", str(feedback_capacity)])
        self.version = 1

    def write_version(self, v):
        """Writes version v atomically (a temp folder renamed), then the manifest (temp + rename)."""
        tmp = os.path.join(self.mdir, "tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        shutil.copy(self.models[v % 2], os.path.join(tmp, "model.onnx"))
        os.rename(tmp, os.path.join(self.mdir, str(v)))
        # Versions more than two back are gone (the repository is bounded on disk too).
        for name in os.listdir(self.mdir):
            if name.isdigit() and int(name) < v - 2:
                shutil.rmtree(os.path.join(self.mdir, name))
        lines = []
        for name in sorted((n for n in os.listdir(self.mdir) if n.isdigit()), key=int):
            with open(os.path.join(self.mdir, name, "model.onnx"), "rb") as f:
                lines.append("%s  %s/model.onnx\n" % (hashlib.sha256(f.read()).hexdigest(), name))
        with open(os.path.join(self.mdir, "SHA256SUMS.tmp"), "w") as f:
            f.writelines(lines)
        os.rename(os.path.join(self.mdir, "SHA256SUMS.tmp"), os.path.join(self.mdir, "SHA256SUMS"))


def tokens_file(work):
    path = os.path.join(work, "tokens")
    if not os.path.exists(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("infer %s\nadmin %s\n" % (INFER_TOKEN, ADMIN_TOKEN))
    return path


def http_call(port, method, path, body=None, token=None, timeout=30):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        h = {"Content-Type": "application/json"}
        if token:
            h["Authorization"] = "Bearer " + token
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


class ServeLoad:
    """--clients threads at a fixed total rate, each request with its own id, every one accounted."""

    def __init__(self, port, x, refs, rate, clients):
        self.port, self.refs = port, refs
        self.x = x
        self.period = clients / rate
        self.clients = clients
        self.stop = threading.Event()
        self.n = Counter()  # sent, ok, rejected, lost, wrong
        self.lat = []       # ms of the 200s (bounded: one float per request is small for a 30-min run)
        self.versions = Counter()
        self.threads = [threading.Thread(target=self.client, args=(i,), daemon=True) for i in range(clients)]

    def start(self):
        for t in self.threads:
            t.start()

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def body(self, rid):
        return json.dumps({"id": rid, "inputs": [{"name": "input", "datatype": "FP32", "shape": list(self.x.shape),
                                                   "data": [float(v) for v in self.x.ravel()]}]})

    def client(self, tid):
        conn = None
        seq = 0
        next_t = time.monotonic() + tid * self.period / self.clients
        headers = {"Content-Type": "application/json", "Authorization": "Bearer " + INFER_TOKEN}
        while not self.stop.is_set():
            now = time.monotonic()
            if next_t > now:
                time.sleep(next_t - now)
            next_t = max(next_t + self.period, time.monotonic() - self.period)
            rid = "c%d-%d" % (tid, seq)
            seq += 1
            self.n.add("sent")
            t0 = time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("POST", "/v2/models/vision_cnn/infer", body=self.body(rid), headers=headers)
                r = conn.getresponse()
                data = r.read()
                status = r.status
            except Exception as e:  # noqa: BLE001 - every failure to get an answer is a lost request
                self.n.add("lost", "%s: %s: %s" % (rid, type(e).__name__, e))
                if conn is not None:
                    conn.close()
                conn = None
                continue
            ms = 1e3 * (time.perf_counter() - t0)
            if status == 200:
                try:
                    j = json.loads(data)
                    v = int(j["model_version"])
                    out = np.array(j["outputs"][0]["data"], np.float32)
                    ok = j.get("id") == rid and np.max(np.abs(out - self.refs[v % 2])) <= 1e-4
                except Exception as e:  # noqa: BLE001
                    ok, v = False, -1
                    data = repr(e).encode() + b" " + data[:200]
                if ok:
                    self.n.add("ok")
                    self.versions.add(v)
                    self.lat.append(ms)
                else:
                    self.n.add("wrong", "%s: %s" % (rid, data[:300]))
            elif status in (429, 503) and b"error" in data:
                self.n.add("rejected", "%s: %d %s" % (rid, status, data[:200]))
            else:
                self.n.add("lost", "%s: HTTP %d %s" % (rid, status, data[:300]))


def swap(edge, n_swap, results):
    """One model swap through the admin endpoint, with the auth checks around it."""
    port = edge.server.http_port
    path = "/v2/repository/models/vision_cnn/load"
    v = edge.version + 1
    edge.write_version(v)
    s_none, _ = http_call(port, "POST", path, b"{}")
    s_infer, _ = http_call(port, "POST", path, b"{}", INFER_TOKEN)
    t0 = time.perf_counter()
    s_admin, body = http_call(port, "POST", path, b"{}", ADMIN_TOKEN, timeout=120)
    load_ms = 1e3 * (time.perf_counter() - t0)
    s_meta, meta = http_call(port, "GET", "/v2/models/vision_cnn", None, INFER_TOKEN)
    versions = json.loads(meta).get("versions") if s_meta == 200 else None
    ok = (s_none, s_infer, s_admin) == (401, 403, 200) and versions == [str(v)]
    results["swaps"] += 1
    results["auth_checks"] += 2
    results["auth_failures"] += (s_none != 401) + (s_infer != 403)
    results["load_ms"].append(load_ms)
    if ok:
        edge.version = v
    else:
        results["swap_failures"] += 1
        results.setdefault("swap_errors", []).append(
            "swap %d to v%d: no token %d, infer %d, admin %d %s, versions %s" % (n_swap, v, s_none, s_infer, s_admin,
                                                                                 body[:200], versions))
    return ok


# ---------------------------------------------------------------------------------------------- cloud
class Cloud:
    """The cloud `edgeopt serve` with the split's cloud halves; killed and restarted on the same port."""

    def __init__(self, edgeopt, repo, work):
        self.edgeopt, self.repo, self.work = edgeopt, repo, work
        self.port = 0
        self.server = None
        self.incarnations = []  # (start time, peak RSS kB)
        self.kills = 0

    def start(self):
        extra = ["--poll-s", "0", "--threads", "1", "--auth-tokens", tokens_file(self.work)]
        for attempt in range(5):
            try:
                self.server = ServeProcess(self.edgeopt, self.repo, extra, http=self.port)
                break
            except RuntimeError as e:
                if attempt == 4:
                    raise
                log("cloud restart failed (%s), retrying" % str(e).splitlines()[-1][:200])
                time.sleep(1)
        PROCS.append(self.server.proc)
        self.port = self.server.http_port
        self.incarnations.append({"started_s": time.time(), "rss_peak_kb": 0})

    def kill(self, sig):
        self.kills += 1
        self.server.stop(sig)
        self.server = None

    def pid(self):
        return self.server.proc.pid if self.server else None


# ------------------------------------------------------------------------------------------------ mqtt
class Sink:
    """Results and error replies by id (a persistent QoS-1 session: nothing lost across a restart)."""

    def __init__(self, port):
        self.lock = threading.Lock()
        self.results = {}      # id -> distinct payloads seen
        self.deliveries = 0
        self.errors = []
        self.c = paho.Client(client_id="edgeopt-soak-sink", clean_session=False)
        self.c.on_message = self.on_message
        self.c.on_connect = lambda c, u, f, rc: c.subscribe([("out/#", 1), ("err/#", 1)])
        self.c.reconnect_delay_set(min_delay=1, max_delay=2)
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()

    def on_message(self, c, u, m):
        with self.lock:
            if m.topic.startswith("err/"):
                self.errors.append(m.payload[:300])
                return
            self.deliveries += 1
            try:
                j = json.loads(m.payload)
                # A QoS-1 redelivery is the same bytes; a second inference differs at least in latency_ms.
                self.results.setdefault(j["id"], set()).add(hashlib.sha1(m.payload).hexdigest())
            except Exception:  # noqa: BLE001
                self.errors.append(b"unparseable result: " + m.payload[:200])


class Publisher:
    """--mqtt-rate readings/s alternating between two motes, each acknowledged (PUBACK) before the next."""

    def __init__(self, port, readings, rate):
        self.src = Source(port)
        self.readings = readings
        self.period = 1.0 / rate
        self.stop = threading.Event()
        self.sent = 0
        self.expected = set()   # ids that complete a window
        self.warmup_ids = set()
        self.failed = []
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self):
        count = {1: 0, 2: 0}
        next_t = time.monotonic()
        while not self.stop.is_set():
            now = time.monotonic()
            if next_t > now:
                time.sleep(next_t - now)
            next_t = max(next_t + self.period, time.monotonic() - 1.0)
            mote = 1 + self.sent % 2
            i = count[mote]
            t, h = self.readings[mote][i % len(self.readings[mote])]
            rid = "m%d-%d" % (mote, i)
            try:
                self.src.publish("sensors/mote%d/env" % mote, json.dumps({"id": rid, "values": [t, h]}))
            except RuntimeError as e:
                self.failed.append("%s: %s" % (rid, e))
                continue
            count[mote] += 1
            self.sent += 1
            (self.expected if i >= WINDOW - 1 else self.warmup_ids).add(rid)


# ------------------------------------------------------------------------------------------------ main
def growth(samples, t0, duration, warm_frac=0.1, start_frac=None):
    """(median RSS just after warm-up, median of the last window, growth %), samples (t, kB). With
    start_frac, the first window starts there instead (the second half's growth, for the report)."""
    w = duration * warm_frac
    s = duration * (start_frac if start_frac is not None else warm_frac)
    post = [kb for t, kb in samples if t0 + s <= t < t0 + s + w and kb > 0]
    last = [kb for t, kb in samples if t >= t0 + duration - w and kb > 0]
    if not post or not last:
        return None, None, None
    a, b = statistics.median(post), statistics.median(last)
    return a, b, 100.0 * (b - a) / a


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("edgeopt")
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--rate", type=float, default=40, help="edge serve requests/s (all clients together)")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--swap-s", type=float, help="seconds between model swaps (default: run/30, >= 10)")
    ap.add_argument("--outage-every-s", type=float, help="seconds between cloud outages (default: run/10, >= 20)")
    ap.add_argument("--outage-s", type=float, help="length of a cloud outage (default: a quarter of the period, <= 20)")
    ap.add_argument("--broker-every-s", type=float, help="seconds between broker restarts (default: run/10, >= 20)")
    ap.add_argument("--offload-interval-ms", type=float, default=50)
    ap.add_argument("--mqtt-rate", type=float, default=10, help="readings/s")
    ap.add_argument("--rss-every-s", type=float, help="RSS sampling period (default: run/360, 1..5 s)")
    ap.add_argument("--rss-limit-pct", type=float, default=5.0)
    ap.add_argument("--rss-check-min", type=float, default=10, help="check RSS growth only for runs this long (minutes)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--work", help="working directory (default: a temporary one, removed)")
    a = ap.parse_args()
    duration = a.minutes * 60
    swap_s = a.swap_s or max(10.0, duration / 30)
    outage_every = a.outage_every_s or max(20.0, duration / 10)
    outage_s = a.outage_s or min(20.0, outage_every / 4)
    broker_every = a.broker_every_s or max(20.0, duration / 10)
    rss_every = a.rss_every_s or min(5.0, max(1.0, duration / 360))
    edgeopt = os.path.abspath(a.edgeopt)
    if paho is None or not os.path.exists(MOSQUITTO):
        print("SKIP: the soak needs python3-paho-mqtt and mosquitto (apt-get install python3-paho-mqtt mosquitto)")
        return 77

    work = a.work or tempfile.mkdtemp(prefix="edgeopt_soak_")
    os.makedirs(work, exist_ok=True)
    # Ctrl-C and SIGTERM end the run through the finally below (which stops every process).
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    res = {"config": {"minutes": a.minutes, "rate": a.rate, "clients": a.clients, "swap_s": swap_s,
                      "outage_every_s": outage_every, "outage_s": outage_s, "broker_every_s": broker_every,
                      "offload_interval_ms": a.offload_interval_ms, "mqtt_rate": a.mqtt_rate, "rss_every_s": rss_every},
           "machine": {"nproc": os.cpu_count(), "loadavg_before": os.getloadavg()},
           "swaps": 0, "swap_failures": 0, "auth_checks": 0, "auth_failures": 0, "load_ms": [],
           "outages": 0, "broker_restarts": 0}
    failures = []
    broker = edge = cloud = offload = ingest = sink = pub = load = None
    offload_out = os.path.join(work, "offload.json")
    ingest_stats = os.path.join(work, "ingest_stats.json")
    try:
        # -------- models
        log("preparing models in %s" % work)
        data = ["--data", "fashion-mnist", "--max-train", "4000", "--max-test", "500"]
        model_a, model_b = os.path.join(work, "cnn_a.onnx"), os.path.join(work, "cnn_b.onnx")
        for path, seed, steps in ((model_a, 1, 40), (model_b, 2, 20)):
            run([edgeopt, "train", "--model", "vision_cnn", "--epochs", "1", "--max-steps-per-epoch", str(steps),
                 "--seed", str(seed), "--out", path, "--no-progress"] + data)
        x_path = os.path.join(work, "x.npy")
        run([edgeopt, "data", "--data", "fashion-mnist", "--count", "1", "--sample-out", x_path])
        x = np.load(x_path).astype(np.float32)
        refs = {}
        for parity, path in ((1, model_a), (0, model_b)):
            out_dir = os.path.join(work, "ref%d" % parity)
            run([edgeopt, "run", path, "--input", x_path, "--output-dir", out_dir])
            refs[parity] = np.load(os.path.join(out_dir, "output.npy")).astype(np.float32).ravel()
        split_dir, cloud_repo = os.path.join(work, "split"), os.path.join(work, "cloud_repo")
        run([edgeopt, "partition", model_a, "--cloud", "speedup:4", "--bandwidth", "100", "--rtt-ms", "1",
             "--transport", "fp32", "--cut", "3", "--name", "cnn", "--out", split_dir, "--repo", cloud_repo] + data)
        lstm = os.path.join(work, "lstm.onnx")
        run([edgeopt, "train", "--model", "env_lstm", "--data", "wsn-temperature", "--epochs", "1", "--width", "8",
             "--seed", "1", "--max-train", "4000", "--max-test", "200", "--no-progress", "--out", lstm])
        readings = real_readings(feature_stats(edgeopt))

        # -------- processes
        # The server's prediction ring (--feedback-capacity) fills within the first third of warm-up.
        feedback_capacity = max(100, int(a.rate * duration * 0.1 / 3))
        edge = EdgeServe(work, edgeopt, model_a, model_b, feedback_capacity)
        PROCS.append(edge.server.proc)
        log("edge serve on port %d (pid %d)" % (edge.server.http_port, edge.server.proc.pid))
        cloud = Cloud(edgeopt, cloud_repo, work)
        cloud.start()
        log("cloud serve on port %d (pid %d)" % (cloud.port, cloud.pid()))
        broker = Broker(work, free_port())
        broker.start()
        PROCS.append(broker.proc)
        ingest_log = open(os.path.join(work, "ingest.log"), "w")
        # The duplicate window (ids remembered) fills within warm-up too (ingest's other state is bounded
        # by the topics: one window of 24 readings per sensor).
        dedupe = max(100, int(a.mqtt_rate * duration * 0.1 / 3))
        ingest = subprocess.Popen(
            [edgeopt, "ingest", "--broker", "127.0.0.1:%d" % broker.port, "--sub", "sensors/+/env=%s" % lstm,
             "--window", str(WINDOW), "--out-prefix", "out", "--error-prefix", "err", "--client-id", "edgeopt-soak-ingest",
             "--dedupe-window", str(dedupe), "--stats-json", ingest_stats],
            stdout=subprocess.PIPE, stderr=ingest_log, text=True)
        PROCS.append(ingest)
        sink = Sink(broker.port)
        end = time.time() + 30
        while time.time() < end and "connected to" not in open(os.path.join(work, "ingest.log")).read():
            time.sleep(0.1)
        offload_log = open(os.path.join(work, "offload.log"), "w")
        _write(os.path.join(work, "cloud_token"), INFER_TOKEN)  # offload reads the cloud's token from a file
        offload = subprocess.Popen(
            [edgeopt, "offload", model_a, "--plan", os.path.join(split_dir, "plan.json"),
             "--cloud", "http://127.0.0.1:%d" % cloud.port, "--cloud-token-file", os.path.join(work, "cloud_token"),
             "--cut", "3", "--requests", "1000000000", "--duration-s", str(duration), "--interval-ms",
             str(a.offload_interval_ms), "--deadline-ms", "1000", "--json", "--no-progress"] + data,
            stdout=open(offload_out, "w"), stderr=offload_log)
        PROCS.append(offload)
        pub = Publisher(broker.port, readings, a.mqtt_rate)
        load = ServeLoad(edge.server.http_port, x, refs, a.rate, a.clients)

        # -------- the run
        t0 = time.time()
        load.start()
        pub.thread.start()
        log("soak: %.1f min; swap every %.0f s; cloud outage %.0f s every %.0f s; broker restart every %.0f s"
            % (a.minutes, swap_s, outage_s, outage_every, broker_every))
        rss = {"edge_serve": [], "offload": [], "ingest": [], "cloud_serve": [], "mosquitto": []}
        next_swap, next_outage, next_broker = t0 + swap_s, t0 + outage_every / 2, t0 + broker_every * 0.75
        outage_end = None
        next_rss, next_progress = t0, t0 + max(10.0, duration / 30)
        sig_cycle = [signal.SIGKILL, signal.SIGTERM]
        while True:
            now = time.time()
            if now >= t0 + duration:
                break
            for name, proc in (("edge_serve", edge.server.proc), ("offload", offload), ("ingest", ingest)):
                if proc.poll() is not None and not (name == "offload" and now > t0 + duration - 5):
                    raise RuntimeError("%s exited with %s during the soak" % (name, proc.returncode))
            if now >= next_rss:
                rss["edge_serve"].append((now, rss_kb(edge.server.proc.pid)))
                rss["offload"].append((now, rss_kb(offload.pid)))
                rss["ingest"].append((now, rss_kb(ingest.pid)))
                if cloud.pid():
                    kb = rss_kb(cloud.pid())
                    rss["cloud_serve"].append((now, kb))
                    cloud.incarnations[-1]["rss_peak_kb"] = max(cloud.incarnations[-1]["rss_peak_kb"], kb)
                if broker.proc and broker.proc.poll() is None:
                    rss["mosquitto"].append((now, rss_kb(broker.proc.pid)))
                next_rss += rss_every
            if now >= next_swap:
                swap(edge, res["swaps"] + 1, res)
                next_swap += swap_s
            if outage_end is None and now >= next_outage and now < t0 + duration - outage_s - 5:
                sig = sig_cycle[res["outages"] % 2]
                cloud.kill(sig)
                res["outages"] += 1
                outage_end = now + outage_s
                log("cloud down (%s) for %.0f s" % (signal.Signals(sig).name, outage_s))
                next_outage += outage_every
            if outage_end is not None and now >= outage_end:
                cloud.start()
                outage_end = None
                log("cloud back (pid %d)" % cloud.pid())
            if now >= next_broker and now < t0 + duration - 10:
                broker.stop()
                time.sleep(0.5)
                broker.start()
                PROCS.append(broker.proc)
                res["broker_restarts"] += 1
                log("broker restarted (%d)" % res["broker_restarts"])
                next_broker += broker_every
            if now >= next_progress:
                with sink.lock:
                    got = len(sink.results)
                log("t=%4.0f s  serve: sent %d ok %d rejected %d lost %d wrong %d | swaps %d (v%d) | outages %d | "
                    "mqtt: published %d results %d | RSS MB serve %.1f offload %.1f ingest %.1f"
                    % (now - t0, load.n.get("sent"), load.n.get("ok"), load.n.get("rejected"), load.n.get("lost"),
                       load.n.get("wrong"), res["swaps"], edge.version, res["outages"], pub.sent, got,
                       rss["edge_serve"][-1][1] / 1024, rss["offload"][-1][1] / 1024, rss["ingest"][-1][1] / 1024))
                next_progress += max(10.0, duration / 30)
            time.sleep(0.2)

        # -------- drain and collect
        log("soak time is up: stopping the load, collecting answers")
        load.join()
        pub.stop.set()
        pub.thread.join(60)
        if outage_end is not None:
            cloud.start()
        try:
            offload.wait(120)
        except subprocess.TimeoutExpired:
            failures.append("offload did not finish within 120 s of --duration-s")
        want = pub.expected
        end = time.time() + 60
        while time.time() < end:
            with sink.lock:
                if want <= set(sink.results):
                    break
            time.sleep(0.2)
        time.sleep(1.0)  # a double answer would arrive now
        ingest.send_signal(signal.SIGINT)
        ingest_stdout, _ = ingest.communicate(timeout=30)
        edge_rc = edge.server.stop()
        cloud_rc = cloud.server.stop() if cloud.server else None

        # -------- results
        n = load.n
        lat = sorted(load.lat) or [0.0]
        res["serve"] = {"sent": n.get("sent"), "ok": n.get("ok"), "rejected": n.get("rejected"), "lost": n.get("lost"),
                        "wrong": n.get("wrong"), "p50_ms": lat[len(lat) // 2], "p99_ms": lat[int(len(lat) * 0.99)],
                        "answers_per_version": {str(k): v for k, v in sorted(load.versions.c.items())},
                        "examples": n.examples, "exit_code": edge_rc,
                        "server_stats": [l.split("edgeopt serve: ", 1)[-1].strip() for l in edge.server.lines
                                         if "requests answered" in l]}
        res["load_ms"] = {"median": statistics.median(res["load_ms"]) if res["load_ms"] else 0,
                          "max": max(res["load_ms"], default=0)}
        try:
            oj = json.load(open(offload_out))
            res["offload"] = {"exit_code": offload.returncode, **oj.get("run", {}),
                              "fallbacks": oj.get("fallbacks"), "fallback_reasons": oj.get("fallback_reasons")}
        except (OSError, ValueError) as e:
            res["offload"] = {"exit_code": offload.returncode, "error": "no JSON report: %s" % e,
                              "stderr": open(os.path.join(work, "offload.log")).read()[-2000:]}
        res["cloud"] = {"kills": cloud.kills, "incarnations": len(cloud.incarnations),
                        "rss_peak_mb": max((i["rss_peak_kb"] for i in cloud.incarnations), default=0) / 1024,
                        "last_exit_code": cloud_rc}
        with sink.lock:
            got = dict(sink.results)
            deliveries = sink.deliveries
            errors = list(sink.errors)
        missing = sorted(want - set(got))
        double = [k for k, v in got.items() if len(v) > 1]
        warm_answered = [k for k in pub.warmup_ids if k in got]
        try:
            stats = json.load(open(ingest_stats))
        except (OSError, ValueError):
            stats = {}
        res["mqtt"] = {"published": pub.sent, "republished": pub.src.republished, "publish_failures": len(pub.failed),
                       "expected_results": len(want), "results": len(set(got) & want), "missing": len(missing),
                       "missing_examples": missing[:10], "answered_twice": len(double), "redeliveries":
                       deliveries - sum(len(v) for v in got.values()), "warmup_answered": len(warm_answered),
                       "error_replies": len(errors), "error_examples": [e.decode(errors="replace") for e in errors[:5]],
                       "ingest_exit_code": ingest.returncode, "ingest_counters": stats,
                       "ingest_stdout": ingest_stdout.strip()}
        res["rss"] = {}
        for name, samples in rss.items():
            post, last, g = growth(samples, t0, duration)
            warm = [kb for t, kb in samples if t0 + duration * 0.1 - rss_every <= t <= t0 + duration * 0.1 + rss_every]
            g_late = growth(samples, t0, duration, start_frac=0.5)[2]
            res["rss"][name] = {"samples": len(samples), "at_warmup_mb": (warm[0] if warm else 0) / 1024,
                                "growth_second_half_pct": g_late,
                                "end_mb": (samples[-1][1] if samples else 0) / 1024,
                                "post_warmup_median_mb": (post or 0) / 1024, "last_median_mb": (last or 0) / 1024,
                                "growth_pct": g, "max_mb": max((kb for _, kb in samples), default=0) / 1024}
        res["rss_samples"] = {k: [(round(t - t0, 1), kb) for t, kb in v] for k, v in rss.items()}

        # -------- checks
        def check(cond, what):
            if not cond:
                failures.append(what)
        s = res["serve"]
        check(s["lost"] == 0, "serve: %d lost requests (%s)" % (s["lost"], n.examples.get("lost")))
        check(s["wrong"] == 0, "serve: %d wrong answers (%s)" % (s["wrong"], n.examples.get("wrong")))
        check(s["ok"] + s["rejected"] + s["lost"] + s["wrong"] == s["sent"], "serve: every request accounted")
        check(s["ok"] > 0, "serve: answered requests")
        check(edge_rc == 0, "edge serve exits 0 on SIGTERM (got %s)" % edge_rc)
        check(res["swaps"] > 0 and res["swap_failures"] == 0, "swaps: %d, failed %d %s" % (
            res["swaps"], res["swap_failures"], res.get("swap_errors", [])[:3]))
        check(res["auth_failures"] == 0, "auth: %d of %d refusals wrong" % (res["auth_failures"], res["auth_checks"]))
        o = res["offload"]
        check(o.get("exit_code") == 0 and o.get("lost", 1) == 0 and o.get("answered", 0) > 0,
              "offload: exit %s, %s answered, %s lost" % (o.get("exit_code"), o.get("answered"), o.get("lost")))
        check(o.get("cloud_answers", 0) > 0 and (res["outages"] == 0 or o.get("local_answers", 0) > 0),
              "offload: cloud answers and edge fallbacks both seen")
        check(o.get("top1_disagreements", 1) == 0 and o.get("max_abs_diff_vs_full", 1) <= 1e-3,
              "offload: answers equal the full model")
        check(res["outages"] > 0, "at least one cloud outage")
        m = res["mqtt"]
        check(m["missing"] == 0, "mqtt: %d acknowledged readings got no result (%s)" % (m["missing"], missing[:5]))
        check(m["answered_twice"] == 0 and m["warmup_answered"] == 0, "mqtt: no double or warm-up answers")
        check(m["error_replies"] == 0 and m["publish_failures"] == 0, "mqtt: no error replies or failed publishes")
        check(m["expected_results"] > 0, "mqtt: readings completed windows")
        check(ingest.returncode == 0, "ingest exits 0 on SIGINT (got %s)" % ingest.returncode)
        check(res["broker_restarts"] > 0, "at least one broker restart")
        check(stats.get("pending", 1) == 0 and stats.get("dropped", 1) == 0, "ingest: nothing pending or dropped")
        res["rss_checked"] = a.minutes >= a.rss_check_min
        for name in ("edge_serve", "offload", "ingest"):
            g = res["rss"][name]["growth_pct"]
            if res["rss_checked"]:
                check(g is not None and g < a.rss_limit_pct, "RSS growth of %s: %s%% (limit %g%%)" % (name, g, a.rss_limit_pct))
    except KeyboardInterrupt:
        failures.append("interrupted")
    except Exception as e:  # noqa: BLE001 - reported as a failed check, after cleanup
        import traceback
        traceback.print_exc()
        failures.append("%s: %s" % (type(e).__name__, e))
    finally:
        for obj in (load, pub):
            if obj is not None:
                obj.stop.set()
        if sink is not None:
            sink.c.loop_stop()
        if pub is not None:
            pub.src.c.loop_stop()
        cleanup()
        if broker is not None:
            broker.stop()
    res["failures"] = failures
    res["loadavg_after"] = os.getloadavg()
    report(res)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1, default=str)
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


def _write(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")


def cleanup():
    for p in PROCS:
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in PROCS:
        if p is not None and p.poll() is None:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def report(res):
    print()
    print("| part | result |")
    print("|---|---|")
    s = res.get("serve")
    if s:
        print("| edge serve | %d requests: %d answered 200, %d rejected (429/503), %d lost, %d wrong; p50 %.1f ms, "
              "p99 %.1f ms |" % (s["sent"], s["ok"], s["rejected"], s["lost"], s["wrong"], s["p50_ms"], s["p99_ms"]))
        print("| model swaps | %d (%d failed), load median %.0f ms, max %.0f ms; auth refusals %d/%d right |"
              % (res["swaps"], res["swap_failures"], res["load_ms"]["median"], res["load_ms"]["max"],
                 res["auth_checks"] - res["auth_failures"], res["auth_checks"]))
    o = res.get("offload")
    if o:
        print("| offload | %s requests: %s answered, %s lost; %s from the cloud, %s local; %s deadline misses; "
              "%d cloud outages |" % (o.get("requests"), o.get("answered"), o.get("lost"), o.get("cloud_answers"),
                                     o.get("local_answers"), o.get("deadline_misses"), res["outages"]))
    m = res.get("mqtt")
    if m:
        print("| mqtt ingest | %d readings published (%d re-published), %d of %d expected results, %d missing, "
              "%d answered twice, %d error replies; %d broker restarts |"
              % (m["published"], m["republished"], m["results"], m["expected_results"], m["missing"],
                 m["answered_twice"], m["error_replies"], res["broker_restarts"]))
    if res.get("rss"):
        print()
        print("| process | RSS at warm-up MB | end MB | median after warm-up MB | median last 10%% MB | growth | "
              "second half |%s" % ("" if res.get("rss_checked") else " (not checked: short run)"))
        print("|---|---|---|---|---|---|---|")
        for name, r in res["rss"].items():
            g, g2 = r["growth_pct"], r["growth_second_half_pct"]
            print("| %s | %.1f | %.1f | %.1f | %.1f | %s | %s |" % (
                name, r["at_warmup_mb"], r["end_mb"], r["post_warmup_median_mb"], r["last_median_mb"],
                "-" if g is None else "%+.2f%%" % g, "-" if g2 is None else "%+.2f%%" % g2))
    print()
    print("FAILED:\n  " + "\n  ".join(res["failures"]) if res["failures"] else "all checks passed")


if __name__ == "__main__":
    sys.exit(main())
