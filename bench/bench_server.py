"""HTTP server under load and under a slow-loris attack: POST /v1/analyze with a real 640x480 photo.

Starts a real server (``python -m emorec serve``, default options) in a subprocess on 127.0.0.1 and a
free port; all traffic stays on loopback. Clients are threads, each with its own keep-alive connection
(http.client), sending the same multipart upload back to back. For 1, 8 and 32 concurrent clients:
requests/s, p50/p99 latency, errors (any answer but a 200 with a face), the server's RSS
after the level and its peak (VmHWM). Then the attack: 20 connections that each send
``POST /v1/analyze HTTP/1.1\\r\\nHost: x\\r\\n`` and stop, kept at 20 (a closed one is reopened, as a
real attacker does) while 8 clients work: are the real requests still answered, and how long does a
stalled connection stay open? Last, 48 clients send a 4 MB upload each, all at once (the photo with a
4 MB trailer after its end, which decoders ignore): the answers, and the server's peak RSS growth.

    python bench/bench_server.py [--photo PATH] [--requests 100 200 320] [--attack-seconds 20] [--out results.json]
    git archive HEAD src | tar -x -C /tmp/head      # the same run against another version of the server:
    python bench/bench_server.py --baseline-src /tmp/head/src --out bench/bench_server_results.json

The image: ``test_obama1.jpg`` from ``../shared/data/photos`` (a real photograph, 1480x832, one face)
scaled and letterboxed to 640x480, JPEG quality 90 (43 KiB). The bench stops with a message without it.

Measured 2026-11-25 with ``python bench/bench_server.py --baseline-src /tmp/head/src --out
bench/bench_server_results.json`` on the 2-CPU development machine while four other agents were running
their own work on the same 2 CPUs: absolute speeds are lower and noisier than on an idle machine (the
last idle run of the old server gave 10.8 / 11.2 / 11.3 req/s on another image); compare the two servers
within this one run. Server: default options, 2 analysis threads.

    this working tree (new server)            clients requests errors req/s  p50 ms  p99 ms  RSS MiB
                                                    1      100      0   4.8     184     525    140.1
                                                    8      200      0   6.7    1120    2101    141.1
                                                   32      320      0   7.6    3983    5275    142.9
                              + 20 stalled          8      172      0   8.3     932    1253    142.9
    stalled connections: each closed by the server after 5.0 s (its header deadline; median and max), with a
    408; 100 opened in 20 s to keep 20 stalled. 48 uploads of 4.0 MB at once: 32 answered 200, 16 got 503 busy
    at once (before their body was read; 4.9 s in all); server peak RSS +142 MiB (32 uploads held once).

    HEAD before this change (old server)      clients requests errors req/s  p50 ms  p99 ms  RSS MiB
                                                    1      100      0   4.2     220     382    165.2
                                                    8      200      0   3.7    2124    3066    167.3
                                                   32      178      0   2.4   12856   15034    169.9  (60 s cap)
                              + 20 stalled          8       78      0   3.4    2195    3488    169.9
    stalled connections: none closed by the server, all 20 still open after 23.3 s. 48 uploads of 4.0 MB at once:
    45 answered 200, 3 got 503 (26.0 s in all); server peak RSS +616 MiB (every upload read, held about 3 times).

    The old server's HEAD also has the old Haar detector (searched at full size) and unsized thread pools, so
    its lower req/s here is not the server's doing alone; the stalled connections and the upload memory are.

Measured again on the idle machine, both default detectors, with ``python bench/bench_server.py --detectors haar
yunet --clients 1 8 32 --requests 60 120 200 --attack-seconds 15 --out bench/bench_server_results.json``:

    detector haar (default)                   clients requests errors req/s  p50 ms  p99 ms  RSS MiB
                                                    1       60      0  13.1      76      84    133.9
                                                    8      120      0  54.8     136     206    134.9
                                                   32      200      0  59.1     528     584    137.3
                              + 20 stalled          8      888      0  58.7     132     184    137.4
    detector yunet                                  1       60      0  16.3      60      68    148.1
                                                    8      120      0 107.6      69     112    148.4
                                                   32      200      0 115.2     264     340    150.3
                              + 20 stalled          8     1691      0 112.2      69     100    151.0
    stalled connections: each closed after 5.0 s with a 408 (both runs). 48 uploads of 4 MB at once: 32 / 33
    answered 200, the rest 503 at once; peak RSS +142 / +186 MiB.
    One client waits on each answer before sending the next request, so its req/s is latency-bound; 8 clients
    show the throughput of the 2 analysis threads.

The same command later that day, after the Haar default's tilt check (min_neighbors 1) and the retrained models,
no other work running (this machine was slower then: `fer`'s own time per frame went from 26.8 to 27-29 ms and
YuNet's swung between 5.3 and 9.9 ms, bench_vs_fer.py):

    detector haar (default)                   clients requests errors req/s  p50 ms  p99 ms  RSS MiB
                                                    1       60      0  12.0      84      88    133.9
                                                    8      120      0  58.1     132     195    134.9
                                                   32      200      0  50.2     584     765    137.2
                              + 20 stalled          8      859      0  56.8     136     174    137.3
    detector yunet                                  1       60      0  15.8      64      68    148.3
                                                    8      120      0  96.2      76     150    148.6
                                                   32      200      0  94.0     332     392    150.4
                              + 20 stalled          8     1462      0  96.9      80     112    151.1
    stalled connections: each closed after 5.0 s with a 408. 48 uploads of 4 MB at once: 32 answered 200, 16
    refused with 503 at once; peak RSS +143 / +178 MiB.

The next session (2026-11-25, evening), after YuNet moved from OpenCV's DNN module to ONNX Runtime (3.4 against
5.3 ms a frame, bench_detector.py), the same command with the training run paused (nothing else running):

    detector haar (default)                   clients requests errors req/s  p50 ms  p99 ms  RSS MiB
                                                    1       60      0  14.0      72      76    133.5
                                                    8      120      0  63.4     124     167    133.8
                                                   32      200      0  63.5     496     546    137.0
                              + 20 stalled          8      979      0  64.7     124     141    137.0
    detector yunet                                  1       60      0  20.3      50      52    155.6
                                                    8      120      0 149.4      52      75    156.0
                                                   32      200      0 250.2     120     163    157.8
                              + 20 stalled          8     2340      0 155.5      52      64    158.5
    stalled connections: each closed after 5.0 s with a 408. 48 uploads of 4 MB at once: 33 / 32 answered 200,
    the rest refused with 503 at once; peak RSS +151 / +146 MiB.

2026-11-26, the Haar default with lone windows and step 1.3 (11.6 against 13.1 ms a frame, bench_detector.py),
the same command, nothing else running:

    detector haar (default)                   clients requests errors req/s  p50 ms  p99 ms  RSS MiB
                                                    1       60      0  14.8      68      72    139.1
                                                    8      120      0  71.6     108     153    140.8
                                                   32      200      0  72.8     424     483    142.6
                              + 20 stalled          8     1112      0  73.7     108     124    143.3
    detector yunet                                  1       60      0  19.5      52      56    161.6
                                                    8      120      0 143.0      52      84    161.8
                                                   32      200      0 200.9     152     190    163.6
                              + 20 stalled          8     2225      0 147.8      52      68    164.3
    stalled connections: each closed after 5.0 s with a 408. 48 uploads of 4 MB at once: 32 / 32 answered 200,
    the rest refused with 503 at once; peak RSS +159 / +169 MiB.
"""

import argparse
import http.client
import json
import os
import select
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import cv2
import numpy as np

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"
STALL = b"POST /v1/analyze HTTP/1.1\r\nHost: x\r\n"


def test_image(photo: Path) -> bytes:
    """The photo scaled to fit 640x480 and letterboxed to exactly that size."""
    img = cv2.imread(str(photo))
    if img is None:
        raise SystemExit(f"cannot read {photo}")
    h, w = img.shape[:2]
    s = min(640 / w, 480 / h)
    img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    top, left = (480 - img.shape[0]) // 2, (640 - img.shape[1]) // 2
    img = cv2.copyMakeBorder(img, top, 480 - img.shape[0] - top, left, 640 - img.shape[1] - left,
                             cv2.BORDER_CONSTANT, value=(0, 0, 0))
    assert img.shape == (480, 640, 3)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return buf.tobytes()


def multipart(data: bytes, name: str = "frame.jpg") -> tuple[bytes, str]:
    b = uuid.uuid4().hex
    body = (f"--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{b}--\r\n".encode()
    return body, f"multipart/form-data; boundary={b}"


def mem_mib(pid: int) -> dict:
    out = {}
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line.split(":")[0]] = int(line.split()[1]) / 1024
    return out


class Load:
    """N client threads sending requests until ``count`` are done or ``deadline`` (monotonic) passes."""

    def __init__(self, port: int, body: bytes, ctype: str):
        self.port, self.body, self.ctype = port, body, ctype

    def run(self, clients: int, count: int, deadline: float):
        lock = threading.Lock()
        issued = 0
        latencies, errors = [], []

        def client():
            nonlocal issued
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            while True:
                with lock:
                    if issued >= count or time.monotonic() > deadline:
                        break
                    issued += 1
                t0 = time.perf_counter()
                try:
                    conn.request("POST", "/v1/analyze", body=self.body, headers={"Content-Type": self.ctype})
                    resp = conn.getresponse()
                    payload = resp.read()
                    ok = resp.status == 200 and len(json.loads(payload)["faces"]) >= 1
                    err = None if ok else f"{resp.status} {payload[:200]!r}"
                except (OSError, http.client.HTTPException, ValueError) as e:
                    err = f"{type(e).__name__}: {e}"
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                dt = time.perf_counter() - t0
                with lock:
                    (errors.append(err) if err else latencies.append(dt))
            conn.close()

        return latencies, errors, run_threads(client, clients)


def run_threads(fn, n: int) -> float:
    """Run ``fn`` in ``n`` threads started together; seconds until the last one ends."""
    threads = [threading.Thread(target=fn) for _ in range(n)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


class Attack:
    """Keeps ``n`` stalled connections open (reopening closed ones) until stopped; records how long each
    stayed open before the server closed it and what the server sent."""

    def __init__(self, port: int, n: int):
        self.port, self.n = port, n
        self.lifetimes, self.answers, self.opened = [], [], 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _open(self, live: dict):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.sendall(STALL)
        s.setblocking(False)
        live[s] = (time.monotonic(), b"")
        self.opened += 1

    def _run(self):
        live = {}
        while not self._stop.is_set():
            while len(live) < self.n:
                self._open(live)
            ready, _, _ = select.select(list(live), [], [], 0.05)
            for s in ready:
                t0, got = live[s]
                try:
                    part = s.recv(65536)
                except OSError:
                    part = b""
                if part:
                    live[s] = (t0, got + part)
                    continue
                self.lifetimes.append(time.monotonic() - t0)
                self.answers.append(got.split(b"\r\n", 1)[0].decode("latin-1") or "(closed, nothing sent)")
                del live[s]
                s.close()
        self.still_open = [time.monotonic() - t0 for t0, _ in live.values()]
        for s in live:
            s.close()

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join()


def flood(port: int, n: int, body: bytes, ctype: str) -> dict:
    """``n`` clients send one big upload each, all at once; the answers' status codes, counted."""
    barrier = threading.Barrier(n)
    statuses = []
    lock = threading.Lock()

    def one():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        barrier.wait()
        try:
            conn.request("POST", "/v1/analyze", body=body, headers={"Content-Type": ctype})
            status = str(conn.getresponse().status)
        except (OSError, http.client.HTTPException) as e:
            status = type(e).__name__
        conn.close()
        with lock:
            statuses.append(status)

    seconds = run_threads(one, n)
    return {k: statuses.count(k) for k in sorted(set(statuses))} | {"seconds": seconds}


def pct(values, q):
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


def row(clients, lat, err, wall, pid):
    mem = mem_mib(pid)
    return {"clients": clients, "requests": len(lat) + len(err), "errors": len(err),
            "rps": (len(lat) + len(err)) / wall, "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99),
            "mean_ms": statistics.fmean(lat) * 1000 if lat else float("nan"), "seconds": wall,
            "rss_mib": mem.get("VmRSS"), "peak_rss_mib": mem.get("VmHWM"), "error_examples": err[:3]}


def run_server(a, body: bytes, ctype: str, src=None, detector: str = "haar") -> dict:
    """One full run against a server started from ``src`` (a source folder; None: the installed emorec), with
    ``detector`` as its default detector."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = str(src)
    cmd = [sys.executable, "-m", "emorec", "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "error"]
    if detector != "haar":
        cmd += ["--detector", detector]
        if ps_yunet().is_file():
            cmd += ["--detector-model", str(ps_yunet())]
    server = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    start = time.monotonic()
    try:
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/healthz")
                health = json.loads(c.getresponse().read())
                c.close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() - start > 60:
                    raise SystemExit(f"server did not start: {server.stderr.read()}")
                time.sleep(0.2)
        label = (f"server from {src}" if src else "this working tree's server") + f", detector {detector}"
        print(f"\n== {label}: pid {server.pid} on 127.0.0.1:{port}, {health['limits']['workers']} analysis threads")
        load = Load(port, body, ctype)
        lat, err, _ = load.run(4, 20, time.monotonic() + 60)  # warm-up
        assert not err, err[:3]
        rows = []
        for clients, count in zip(a.clients, a.requests):
            lat, err, wall = load.run(clients, count, time.monotonic() + a.level_seconds)
            rows.append(row(clients, lat, err, wall, server.pid))
        attack = Attack(port, a.stalled).start()
        time.sleep(0.5)
        lat, err, wall = load.run(a.attack_clients, 10**9, time.monotonic() + a.attack_seconds)
        attack.stop()
        under = row(a.attack_clients, lat, err, wall, server.pid)
        closed = attack.lifetimes
        under.update({
            "stalled_kept_open": a.stalled, "stalled_opened": attack.opened, "stalled_closed_by_server": len(closed),
            "stalled_close_p50_s": float(np.median(closed)) if closed else None,
            "stalled_close_max_s": float(max(closed)) if closed else None,
            "stalled_answers": sorted(set(attack.answers)),
            "stalled_still_open_at_end": len(attack.still_open),
            "stalled_longest_open_s": float(max(attack.still_open + closed)) if attack.still_open or closed else None})
        # big uploads at once: how much memory do they cost the server?
        big_body, big_ctype = multipart(a.image + os.urandom(a.flood_mb * 1_000_000))  # a JPEG with a trailer
        before = mem_mib(server.pid)
        answers = flood(port, a.flood, big_body, big_ctype)
        after = mem_mib(server.pid)
        big = {"uploads": a.flood, "upload_mb": len(big_body) / 1e6, "answers": answers,
               "rss_before_mib": before["VmRSS"], "peak_rss_after_mib": after["VmHWM"],
               "peak_growth_mib": after["VmHWM"] - before["VmRSS"]}
        return {"server": label, "workers": health["limits"]["workers"], "limits": health["limits"],
                "rows": rows, "attack": under, "big_uploads": big}
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()


def ps_yunet() -> Path:
    return Path(__file__).resolve().parents[2] / "shared" / "models" / "yunet" / "face_detection_yunet_2023mar.onnx"


def report(run: dict):
    print(f"\n{run['server']}")
    print(f"{'clients':>7} {'requests':>8} {'errors':>6} {'req/s':>6} {'p50 ms':>7} {'p99 ms':>7} {'RSS MiB':>7} {'peak':>6}")
    for r in run["rows"] + [run["attack"]]:
        tag = f"  + {run['attack']['stalled_kept_open']} stalled" if r is run["attack"] else ""
        print(f"{r['clients']:>7} {r['requests']:>8} {r['errors']:>6} {r['rps']:>6.1f} {r['p50_ms']:>7.0f} "
              f"{r['p99_ms']:>7.0f} {r['rss_mib']:>7.1f} {r['peak_rss_mib']:>6.1f}{tag}")
    at = run["attack"]
    if at["stalled_closed_by_server"]:
        print(f"  stalled connections: {at['stalled_opened']} opened, {at['stalled_closed_by_server']} closed by the "
              f"server after {at['stalled_close_p50_s']:.1f} s (median; max {at['stalled_close_max_s']:.1f} s), "
              f"it sent: {', '.join(at['stalled_answers'])}")
    else:
        print(f"  stalled connections: {at['stalled_opened']} opened, none closed by the server; "
              f"{at['stalled_still_open_at_end']} still open after {at['stalled_longest_open_s']:.1f} s")
    big = run["big_uploads"]
    print(f"  {big['uploads']} uploads of {big['upload_mb']:.1f} MB at once: answers {big['answers']}; server peak RSS "
          f"{big['peak_rss_after_mib']:.0f} MiB, {big['peak_growth_mib']:+.0f} MiB over its RSS before them")
    for r in run["rows"] + [at]:
        if r["error_examples"]:
            print(f"  errors at {r['clients']} clients, e.g. {r['error_examples']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photo", type=Path, default=PHOTOS / "test_obama1.jpg")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--requests", type=int, nargs="+", default=[100, 200, 320], help="per concurrency level")
    ap.add_argument("--level-seconds", type=float, default=60, help="at most this long per level")
    ap.add_argument("--stalled", type=int, default=20, help="slow-loris connections kept open")
    ap.add_argument("--attack-clients", type=int, default=8)
    ap.add_argument("--attack-seconds", type=float, default=20)
    ap.add_argument("--flood", type=int, default=48, help="big uploads sent at once, last")
    ap.add_argument("--flood-mb", type=int, default=4, help="size of each big upload (the photo + a trailer)")
    ap.add_argument("--detectors", nargs="+", default=["haar"], help="one run per default detector (haar, yunet)")
    ap.add_argument("--baseline-src", type=Path, help="also run a server from this source folder, for comparison")
    ap.add_argument("--out", type=Path, help="write the figures as JSON here")
    a = ap.parse_args()
    if len(a.requests) != len(a.clients):
        ap.error("give one --requests count per --clients level")
    if not a.photo.exists():
        raise SystemExit(f"the photo {a.photo} is not here (../shared/data/photos holds it); give one with --photo")
    image = a.image = test_image(a.photo)
    body, ctype = multipart(image)
    print(f"{os.cpu_count()} CPUs; image {a.photo.name} letterboxed to 640x480, JPEG {len(image) / 1024:.0f} KiB")
    runs = [run_server(a, body, ctype, detector=d) for d in a.detectors]
    if a.baseline_src:
        runs.append(run_server(a, body, ctype, a.baseline_src))
    for run in runs:
        report(run)
    if a.out:
        a.out.write_text(json.dumps({"photo": a.photo.name, "image_bytes": len(image), "cpus": os.cpu_count(),
                                     "note": "2 shared CPUs, other agents' work running at the same time",
                                     "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
