"""Loads a dotation report in headless Chromium and checks it as a reader would see it.

Chromium is driven over the DevTools protocol through a pipe (--remote-debugging-pipe:
JSON messages ended by NUL on file descriptors 3 and 4), so nothing but Python's standard
library and pyarrow (to read the job's result tables) is needed, and no browser is
downloaded. The checks:

- the page loads with no console message of level error or warning, no exception, and no
  request but the report's own file (its Content-Security-Policy forbids any);
- every expected plot is there and renders: an SVG with a size, a title and axis labels
  (text), a text alternative, and the number of data marks (circles or bars) the result
  tables call for — counted here from the Parquet files, not from the report;
- the headline figures (R², neutrality residual, national totals) equal summary.json's at
  the precision displayed;
- the file is at most 2 MB;
- a full-page screenshot is written for people to look at.

Usage: check_report.py --chromium /usr/bin/chromium --report FILE --results DIR
       --kind calibrate|apply|baseline|weights --screenshot PNG
"""

import argparse
import base64
import fcntl
import json
import math
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

import pyarrow.parquet as pq

MAX_BYTES = 2 * 1024 * 1024
MAX_POINTS = 2000  # plot::MAX_POINTS: a scatter's subsample beyond it
NNBSP, NBSP, MINUS = "\u202f", "\u00a0", "\u2212"


class Browser:
    """Headless Chromium over the DevTools pipe."""

    def __init__(self, executable):
        self.profile = tempfile.mkdtemp(prefix="dotation-chromium-")
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        # Copies above any descriptor the child might have, moved to 3 and 4 in the child.
        r = fcntl.fcntl(to_child_r, fcntl.F_DUPFD_CLOEXEC, 100)
        w = fcntl.fcntl(from_child_w, fcntl.F_DUPFD_CLOEXEC, 100)

        def child_fds():
            os.dup2(r, 3)
            os.dup2(w, 4)

        args = [
            executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-extensions", "--disable-default-apps",
            "--hide-scrollbars", "--mute-audio", "--remote-debugging-pipe",
            f"--user-data-dir={self.profile}", "about:blank",
        ]
        self.proc = subprocess.Popen(
            args, preexec_fn=child_fds, close_fds=False,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for fd in (to_child_r, from_child_w, r, w):
            os.close(fd)
        self.out = os.fdopen(to_child_w, "wb", buffering=0)
        self.inp = os.fdopen(from_child_r, "rb", buffering=0)
        self.buffer = b""
        self.next_id = 0
        self.events = []

    def _read(self, deadline):
        while b"\0" not in self.buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium did not answer")
            chunk = self.inp.read(65536)
            if not chunk:
                raise RuntimeError("Chromium closed the pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method, params=None, session=None, timeout=60):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.out.write(json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            m = self._read(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method, timeout=60):
        deadline = time.monotonic() + timeout
        for i, e in enumerate(self.events):
            if e.get("method") == method:
                return self.events.pop(i)
        while True:
            m = self._read(deadline)
            if m.get("method") == method:
                return m
            self.events.append(m)

    def close(self):
        try:
            self.call("Browser.close", timeout=10)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


PROBE = r"""
JSON.stringify({
  figures: [...document.querySelectorAll('figure.plot')].map(f => {
    const svg = f.querySelector('svg');
    const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
    const mark = f.dataset.mark;
    return {
      id: f.id, mark, declared: Number(f.dataset.marks),
      counted: svg ? svg.querySelectorAll(mark).length : 0,
      visible: svg ? [...svg.querySelectorAll(mark)].filter(e => {
        const b = e.getBoundingClientRect(); return b.width > 0 || b.height > 0; }).length : 0,
      width: box.width, height: box.height,
      texts: svg ? [...svg.querySelectorAll('text')].map(t => t.textContent.trim()) : [],
      alt: (f.querySelector('[role=img]') || {}).ariaLabel || '',
      binWidth: f.dataset.binWidth || null,
    };
  }),
  fields: Object.fromEntries([...document.querySelectorAll('[data-field]')]
    .map(e => [e.dataset.field, e.textContent.trim()])),
  lang: document.documentElement.lang,
  title: document.title,
})
"""


def number(text, lang):
    """A displayed number back to a float, and its decimals."""
    t = text.replace(MINUS, "-")
    # Keep the number: digits, separators and sign (units such as €, %, h go).
    t = re.sub(r"[^0-9.,\-]", "", t)
    if lang == "fr":
        t = t.replace(",", ".")
    else:
        t = t.replace(",", "")
    decimals = len(t.split(".")[1]) if "." in t else 0
    return float(t), decimals


SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")


def scientific(text, lang):
    """`2,27 × 10⁻¹⁶` → (mantissa text, exponent)."""
    if text == "0":
        return "0", 0
    mantissa, power = text.replace(NBSP, " ").split("×")
    m, decimals = number(mantissa.strip(), lang)
    exponent = int(power.strip()[2:].translate(SUPERSCRIPT))
    return f"{m:.{decimals}f}", exponent


def check_field(failures, fields, name, value, lang):
    if name not in fields:
        failures.append(f"the headline has no {name}")
        return
    shown, decimals = number(fields[name], lang)
    if f"{value:.{decimals}f}" != f"{shown:.{decimals}f}":
        failures.append(f"{name}: shown {fields[name]!r}, summary.json {value}")


def expected_marks(kind, results):
    """Data marks per figure id, from the result tables."""
    table = lambda name: pq.read_table(results / f"{name}.parquet").to_pydict()
    expected = {}
    if kind == "weights":
        g = table("weights")["g"]
        return expected, "weights-g", g
    if kind in ("calibrate", "apply"):
        params = table("parameters")
        expected["parameters"] = len(params["parameter"])  # over the parameters-* figures
        services = table("services")
        funding, cost = services["funding"], services["cost"]
        pct = [p for p in services["delta_pct"] if p is not None and math.isfinite(p)]
        impact = table("impact")
        for dim in ["size_decile", "status", "regime", "zone"]:
            expected[f"winners-losers-{dim.replace('_', '-')}"] = 2 * impact["dimension"].count(dim)
        expected["departements"] = impact["dimension"].count("departement")
        oop = table("out_of_pocket")
        for dim in ["gir", "resource_band"]:
            expected[f"out-of-pocket-{dim.replace('_', '-')}"] = 2 * oop["dimension"].count(dim)
        gap = pct
    else:
        services = table("services")
        funding, cost = services["baseline_funding"], services["cost_total"]
        gap = [100.0 * (f / c - 1.0) for f, c in zip(funding, cost) if c > 0]
        dep = table("departements")
        expected["departements"] = sum(
            1 for s, c in zip(dep["services"], dep["cost_total"]) if s > 0 and c > 0)
        users = table("users")
        expected["out-of-pocket-gir"] = len(
            {g for g, o in zip(users["gir"], users["oop_per_hour"]) if o is not None and math.isfinite(o)})
    positive = sum(1 for f, c in zip(funding, cost) if f > 0 and c > 0)
    expected["funding-cost"] = min(positive, MAX_POINTS)
    histogram = "change" if kind in ("calibrate", "apply") else "coverage"
    return expected, histogram, gap


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--report", required=True, type=pathlib.Path)
    ap.add_argument("--results", required=True, type=pathlib.Path)
    ap.add_argument("--kind", required=True, choices=["calibrate", "apply", "baseline", "weights"])
    ap.add_argument("--screenshot", required=True, type=pathlib.Path)
    a = ap.parse_args()

    failures = []
    size = a.report.stat().st_size
    if size > MAX_BYTES:
        failures.append(f"the report has {size} bytes, more than {MAX_BYTES}")
    summary = json.loads((a.results / "summary.json").read_text())
    url = a.report.resolve().as_uri()

    browser = Browser(a.chromium)
    try:
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ["Page", "Runtime", "Log", "Network"]:
            browser.call(f"{domain}.enable", session=session)
        browser.call("Emulation.setDeviceMetricsOverride",
                     {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False},
                     session=session)
        browser.events.clear()
        browser.call("Page.navigate", {"url": url}, session=session)
        browser.wait_event("Page.loadEventFired")
        probe = browser.call("Runtime.evaluate", {"expression": PROBE, "returnByValue": True},
                             session=session)
        page = json.loads(probe["result"]["value"])
        metrics = browser.call("Page.getLayoutMetrics", session=session)
        content = metrics.get("cssContentSize") or metrics["contentSize"]
        shot = browser.call("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": content["width"], "height": content["height"], "scale": 1},
        }, session=session, timeout=120)
        a.screenshot.parent.mkdir(parents=True, exist_ok=True)
        a.screenshot.write_bytes(base64.b64decode(shot["data"]))
        # Late events (console messages after load) are read before closing.
        browser.call("Runtime.evaluate", {"expression": "1"}, session=session)
    finally:
        events = list(browser.events)
        browser.close()

    for e in events:
        m, p = e.get("method"), e.get("params", {})
        if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning", "assert"):
            failures.append(f"console {p['type']}: {p.get('args')}")
        elif m == "Runtime.exceptionThrown":
            failures.append(f"exception: {p.get('exceptionDetails', {}).get('text')}")
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") in ("error", "warning"):
            failures.append(f"console {p['entry']['level']}: {p['entry'].get('text')}")
        elif m == "Network.requestWillBeSent" and p.get("request", {}).get("url") != url:
            failures.append(f"a request to {p['request']['url']}")

    lang = page["lang"]
    expected, histogram, gap = expected_marks(a.kind, a.results)
    figures = {f["id"]: f for f in page["figures"]}
    for f in page["figures"]:
        where = f"figure {f['id']}"
        if f["width"] <= 0 or f["height"] <= 0:
            failures.append(f"{where}: the SVG has no size")
        if f["counted"] != f["declared"]:
            failures.append(f"{where}: {f['counted']} {f['mark']} drawn, {f['declared']} declared")
        if f["counted"] and not f["visible"]:
            failures.append(f"{where}: no mark is visible")
        if len([t for t in f["texts"] if t]) < 3:
            failures.append(f"{where}: no title and axis labels ({f['texts'][:5]})")
        if len(f["alt"]) < 10:
            failures.append(f"{where}: no text alternative")
    if "parameters" in expected:
        drawn = sum(f["counted"] for i, f in figures.items() if i.startswith("parameters-"))
        if drawn != expected.pop("parameters"):
            failures.append(f"parameters: {drawn} dots for {len(pq.read_table(a.results / 'parameters.parquet'))} parameters")
    for fid, n in expected.items():
        if fid not in figures:
            failures.append(f"no figure {fid}")
        elif figures[fid]["counted"] != n:
            failures.append(f"figure {fid}: {figures[fid]['counted']} marks, the results call for {n}")
    if histogram not in figures:
        failures.append(f"no figure {histogram}")
    else:
        w = float(figures[histogram]["binWidth"])
        bins = len({math.floor(v / w) for v in gap if math.isfinite(v)})
        if figures[histogram]["counted"] != bins:
            failures.append(f"figure {histogram}: {figures[histogram]['counted']} bars, {bins} non-empty bins of {w}")

    fields = page["fields"]
    national = summary.get("national", {})
    if a.kind == "weights":
        check_field(failures, fields, "margins", summary["margins"], lang)
        shown = scientific(fields.get("largest_residual", "0"), lang)
        v = summary["largest_residual"]
        want = ("0", 0) if v == 0 else (lambda m, e: (m, int(e)))(*f"{v:.2e}".split("e"))
        if shown != want:
            failures.append(f"largest_residual: shown {fields.get('largest_residual')!r}, summary.json {v}")
        totals = []
    elif a.kind in ("calibrate", "apply"):
        if a.kind == "apply" and fields.get("source") != summary["source"]:
            failures.append(f"source: shown {fields.get('source')!r}, summary.json {summary['source']}")
        check_field(failures, fields, "r2", summary["r2"], lang)
        shown = scientific(fields.get("neutrality_residual", "0"), lang)
        v = summary["neutrality_residual"]
        if v == 0:
            want = ("0", 0)
        else:
            mantissa, exponent = f"{v:.2e}".split("e")
            want = (mantissa, int(exponent))
        if shown != want:
            failures.append(f"neutrality_residual: shown {fields.get('neutrality_residual')!r}, summary.json {v}")
        totals = ["baseline_total", "funding_total", "cost_total"]
    else:
        totals = ["baseline_funding", "cost_total", "public_cost", "user_participation", "hours_funded", "services"]
    for t in totals:
        check_field(failures, fields, f"national.{t}", national[t], lang)

    print(f"{a.report}: {size} bytes, {len(page['figures'])} plots, {sum(f['counted'] for f in page['figures'])} marks, "
          f"lang {lang}; screenshot {a.screenshot}")
    for f in failures:
        print("FAIL:", f)
    checks = 4 + len(page["figures"]) + len(expected) + len(totals)
    print(f"report {a.kind}: {max(checks - len(failures), 0)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
