#!/usr/bin/python3
"""report.html in a real browser: renders a report.json with `report_render`, loads report.html in
headless Chromium (Debian's `chromium`), and checks
  - the DOM Chromium built has the four SVG charts, and their marks carry the report's numbers:
    every candidate's point (latency, accuracy/RMSE, status, Pareto flag), the best point, the
    latency budget line, the before/after bars, the per-layer bars, every per-platform bar, with a
    visible "estimate" label on each estimated platform bar;
  - the candidates table lists every candidate with its reject reasons;
  - nothing external is referenced (no http(s):// or protocol-relative src/href, no CSS url(), no
    @import, no <script src>), and Chromium runs with name resolution disabled;
  - the screenshot is not blank (many distinct colours, a few percent of non-white pixels).
Exit 77 (CTest: skipped) when chromium is not installed. Finishes in a few seconds.

Usage: /usr/bin/python3 tests/report/report_chromium_test.py --render build/tests/report_render \
           --fixture tests/fixtures/report/vision_cnn_report.json
"""
import argparse
import html.parser
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

FAILURES = []


def check(cond, what):
    print(("ok:   " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        FAILURES.append(what)


class Dom(html.parser.HTMLParser):
    """Every element as (tag, attrs, ancestor ids) plus the text inside each element id."""

    def __init__(self):
        super().__init__()
        self.elements = []
        self.stack = []
        self.text_by_id = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        ids = [x for x in (e[1].get("id") for e in self.stack) if x]
        self.elements.append((tag, a, ids))
        if tag not in ("circle", "rect", "line", "polyline", "meta", "br", "path"):  # void/self-closed in SVG
            self.stack.append((tag, a))

    def handle_startendtag(self, tag, attrs):
        ids = [x for x in (e[1].get("id") for e in self.stack) if x]
        self.elements.append((tag, dict(attrs), ids))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        for _, a in self.stack:
            if a.get("id"):
                self.text_by_id[a["id"]] = self.text_by_id.get(a["id"], "") + data

    def find(self, tag=None, within=None, **attrs):
        out = []
        for t, a, ids in self.elements:
            if tag and t != tag:
                continue
            if within and within not in ids:
                continue
            if all(a.get(k.replace("_", "-")) == v for k, v in attrs.items()):
                out.append(a)
        return out


def same(attr, value):
    try:
        return attr is not None and float(attr) == float(value)
    except ValueError:
        return False


def png_stats(path):
    """(distinct colours, fraction of non-white pixels) of an 8-bit RGB/RGBA PNG."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6), f"unexpected PNG format depth={depth} type={ctype}"
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    colours, nonwhite, total = set(), 0, 0
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):  # PNG filters: None, Sub, Up, Average, Paeth
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        if y % 4 == 0:  # every 4th row is plenty for the statistics
            for x in range(0, w, 2):
                px = bytes(line[x * bpp:x * bpp + 3])
                colours.add(px)
                total += 1
                nonwhite += px != b"\xff\xff\xff"
        prev = line
    return len(colours), nonwhite / max(1, total)


def chromium(exe, profile, *args):
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
           "--disable-background-networking", "--host-resolver-rules=MAP * ~NOTFOUND",
           f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=40)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--render", required=True)
    ap.add_argument("--fixture", required=True)
    args = ap.parse_args()
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        print("skip: chromium is not installed")
        sys.exit(77)
    report = json.load(open(args.fixture))
    with tempfile.TemporaryDirectory(prefix="edgeopt_report_") as tmp:
        out = os.path.join(tmp, "out")
        p = subprocess.run([args.render, args.fixture, out], capture_output=True, text=True, timeout=30)
        check(p.returncode == 0, "report_render wrote the report " + p.stderr.strip())
        if p.returncode:
            sys.exit(1)
        page = os.path.join(out, "report.html")
        text = open(page, encoding="utf-8").read()
        external = re.findall(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", text, re.I)
        check(not external, f"no external src/href in report.html ({external[:3]})")
        check(not re.search(r"url\(|@import|<script[^>]*\bsrc", text, re.I), "no CSS url()/@import or script src")
        check(sorted(os.listdir(out)) == ["report.html", "report.json", "report.md"], "exactly report.{html,json,md}")

        p = chromium(exe, os.path.join(tmp, "profile1"), "--dump-dom", "file://" + page)
        check(p.returncode == 0 and "<svg" in p.stdout, f"chromium --dump-dom rendered the page (rc {p.returncode})")
        dump = p.stdout
        dom = Dom()
        dom.feed(dump)
        for cid in ("chart-pareto", "chart-before-after", "chart-layers", "chart-platform-latency_ms",
                    "chart-platform-energy_mj_per_inference", "chart-platform-power_w", "chart-platform-memory_mb",
                    "chart-platform-throughput_per_s"):
            check(len(dom.find("svg", id=cid)) == 1, f"svg#{cid} in the DOM")

        metric = report["model"]["metric"]
        for c in report["candidates"]:
            pts = [a for a in dom.find(within="chart-pareto") if a.get("data-id") == c["id"] and "data-status" in a]
            ok = len(pts) == 1 and same(pts[0].get("data-latency-ms"), c["latency_ms"]) and \
                same(pts[0].get(f"data-{metric}"), c[metric]) and \
                pts[0].get("data-pareto") == ("true" if c["pareto"] else "false")
            check(ok, f"point {c['id']}: latency {c['latency_ms']} ms, {metric} {c[metric]}, pareto {c['pareto']}")
        best = report["best"]
        bp = dom.find(within="chart-pareto", data_status="best")
        check(len(bp) == 1 and bp[0].get("data-id") == best["id"] and same(bp[0].get("data-latency-ms"), best["latency_ms"])
              and same(bp[0].get(f"data-{metric}"), best[metric]),
              f"the best point is {best['id']} at {best['latency_ms']} ms, {metric} {best[metric]}")
        budget = dom.find("line", within="chart-pareto")
        budget = [a for a in budget if a.get("class") == "budget-line"]
        check(len(budget) == 1 and same(budget[0].get("data-value"), report["budgets"]["max_latency_ms"]),
              f"latency budget line at {report['budgets']['max_latency_ms']} ms")
        front = dom.find("polyline", within="chart-pareto")
        want = " ".join(c["id"] for c in sorted((c for c in report["candidates"] if c["pareto"]),
                                                key=lambda c: c["latency_ms"]))
        check(len(front) == 1 and front[0].get("data-ids") == want, f"Pareto front through {want}")

        for variant in ("baseline", "best"):
            card = report[variant]
            for key in ("size_bytes", "latency_ms", "energy_mj_per_inference"):
                bars = dom.find("rect", within="chart-before-after", data_metric=key, data_variant=variant)
                check(len(bars) == 1 and same(bars[0].get("data-value"), card[key]),
                      f"before/after bar {key} {variant} = {card[key]}")
        for layer in report["layers"]:
            for variant, key in (("baseline", "baseline_ms"), ("best", "best_ms")):
                bars = dom.find("rect", within="chart-layers", data_layer=layer["name"], data_variant=variant)
                ok = not bars if layer[key] is None else len(bars) == 1 and same(bars[0].get("data-value"), layer[key])
                check(ok, f"layer bar {layer['name']} {variant} = {layer[key]}")

        for metric_key in ("latency_ms", "energy_mj_per_inference", "throughput_per_s", "power_w", "memory_mb"):
            chart = f"chart-platform-{metric_key}"
            for row in report["platforms"]:
                if row[metric_key] is None:
                    continue
                bars = dom.find("rect", within=chart, data_platform=row["platform"], data_variant=row["variant"],
                                data_dtype=row["dtype"])
                check(len(bars) == 1 and same(bars[0].get("data-value"), row[metric_key])
                      and bars[0].get("data-source") == row["source"],
                      f"{chart}: {row['platform']} {row['variant']} = {row[metric_key]} ({row['source']})")
            n_est = sum(1 for r in report["platforms"] if r[metric_key] is not None and r["source"] == "estimate")
            # Visible labels only (the <title> tooltips say "estimate" too).
            svg = re.search(r'<svg[^>]*id="%s".*?</svg>' % chart, dump, re.S)
            labels = len(re.findall(r'<tspan class="est-label">estimate</tspan>', svg.group(0))) if svg else -1
            check(labels == n_est, f"{chart}: {n_est} estimated bars, {labels} visible 'estimate' labels")

        table = dom.text_by_id.get("candidates-table", "")
        for c in report["candidates"]:
            rows = dom.find("tr", within="candidates-table", data_id=c["id"])
            check(len(rows) == 1 and all(r in table for r in c["reject_reasons"]),
                  f"candidates table row {c['id']} with its reject reasons")

        shot = os.path.join(tmp, "shot.png")
        p = chromium(exe, os.path.join(tmp, "profile2"), "--window-size=1240,1800", f"--screenshot={shot}",
                     "file://" + page)
        check(p.returncode == 0 and os.path.exists(shot), "chromium --screenshot wrote a PNG")
        if os.path.exists(shot):
            colours, ink = png_stats(shot)
            check(colours >= 20 and ink >= 0.03, f"screenshot not blank: {colours} colours, {ink:.1%} non-white")

    print(f"{len(FAILURES)} failure(s)")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
