"""One harness for Python tests and bench scripts that need a running `edgeopt serve`.

`edgeopt serve` binds the ports it is given (0 = any free one) and prints them on stderr, then
"ready (Ctrl-C ...)". ServeProcess starts it, reads stderr on a thread (so a chatty server never
blocks on a full pipe), waits for ready, and parses the HTTP and gRPC ports from the log.
bench/ scripts import it with sys.path pointing here, as tests/split_own_server_test.py reuses
kserve_peer_test's helpers.
"""

import re
import signal
import subprocess
import threading

_HTTP_RE = re.compile(r"HTTP/REST \(KServe v2\) on [0-9.]+:(\d+)")
_GRPC_RE = re.compile(r"gRPC \(inference.GRPCInferenceService\) on [0-9.]+:(\d+)")


def rss_kb(pid):
    """Resident set size of process `pid` in KiB from /proc (0 once it has exited)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class ServeProcess:
    """`edgeopt serve --model-repo REPO` on 127.0.0.1 and free ports; `extra` are further flags.

    grpc=False passes `--grpc -1` (no gRPC listener); `http` is the HTTP port (0: a free one; a fixed
    one to restart a server where its clients expect it). Raises RuntimeError with the log's tail when
    the server exits or is not ready within `ready_s`."""

    def __init__(self, edgeopt, repo, extra=(), grpc=False, ready_s=60, http=0):
        self.lines = []
        cmd = [edgeopt, "serve", "--model-repo", repo, "--host", "127.0.0.1", "--http", str(http),
               "--grpc", "0" if grpc else "-1"] + list(extra)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(ready_s):
            self.stop()
            raise RuntimeError("edgeopt serve did not become ready in %d s:\n%s" % (ready_s, self.tail()))
        text = "".join(self.lines)
        m = _HTTP_RE.search(text)
        if not m:
            self.stop()
            raise RuntimeError("edgeopt serve printed no HTTP port:\n" + self.tail())
        self.http_port = int(m.group(1))
        self.port = self.http_port
        g = _GRPC_RE.search(text)
        self.grpc_port = int(g.group(1)) if g else None
        if grpc and self.grpc_port is None:
            self.stop()
            raise RuntimeError("edgeopt serve printed no gRPC port:\n" + self.tail())

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line)
            if "ready (Ctrl-C" in line or "edgeopt: error" in line:
                self.ready.set()
        self.ready.set()

    def tail(self, n=40):
        return "".join(self.lines[-n:])

    def rss_kb(self):
        """Resident set size of the server now, in KiB (0 once it has exited)."""
        return rss_kb(self.proc.pid)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Signal the server, wait up to `timeout` s, then kill it; returns its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode
