"""HTTP server throughput, latency and memory: POST /v1/analyze with a 640x480 one-face JPEG.

Starts a real server (``python -m emorec serve``, default options: 2 analysis threads) in a
subprocess on 127.0.0.1 and a free port; all traffic stays on loopback. Clients are threads, each
with its own keep-alive connection (http.client), sending the same multipart upload back to back.
For 1, 8 and 32 concurrent clients: requests/s, p50/p99 latency, errors (any answer but a 200
with exactly one face counts as an error). Then memory: the server's RSS (/proc/PID/status) after
100 requests and after 10,000 (the requests of the throughput runs count), sampled on the way.

    python bench/bench_server.py [--requests 200 400 800] [--total 10000] [--max-seconds 2400] [--out results.json]

The image: the bundled sample scaled to 480x480 and padded to 640x480 (one face).

Measured 2026-11-25 with ``python bench/bench_server.py --max-seconds 900 --out bench/bench_server_results.json``
on the 2-CPU development machine, otherwise idle (server, clients and the Haar cascade share the 2 CPUs; on this
real photo rec.analyze alone takes 88 ms, measured in-process, of the 91 ms p50 at 1 client). Server: 2 analysis threads.

    clients requests errors   req/s  p50 ms  p99 ms
          1      200      0    10.8    90.9   115.5
          8      400      0    11.2   703.6   871.1
         32      800      0    11.3  2832.3  3018.6

    server RSS: 169.2 MiB after 100 requests (warm-up), 174.0 after 1,000, 174.1 after 2,000, 2,500, 5,000,
    7,500 and 10,000: +4.9 MiB from 100 to 10,000, all of it before request 1,000 (allocator and caches
    settling), +0.1 MiB from 1,000 to 10,000. 0 errors in all 10,000 requests.
"""

import argparse
import http.client
import json
import os
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

SAMPLE = Path(__file__).resolve().parents[1] / "src" / "emorec" / "assets" / "astronaut.jpg"


def test_image() -> bytes:
    img = cv2.resize(cv2.imread(str(SAMPLE)), (480, 480), interpolation=cv2.INTER_AREA)
    img = cv2.copyMakeBorder(img, 0, 0, 80, 80, cv2.BORDER_CONSTANT, value=(90, 90, 90))
    assert img.shape == (480, 640, 3)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return buf.tobytes()


def multipart(data: bytes, name: str = "frame.jpg") -> tuple[bytes, str]:
    b = uuid.uuid4().hex
    body = (f"--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{b}--\r\n".encode()
    return body, f"multipart/form-data; boundary={b}"


def rss_mib(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


class Load:
    """Sends requests from N client threads until ``count`` requests are done (or ``deadline``)."""

    def __init__(self, port: int, body: bytes, ctype: str):
        self.port, self.body, self.ctype = port, body, ctype
        self.done = 0  # all requests ever answered (any status)

    def run(self, clients: int, count: int, deadline: float, on_progress=None):
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
                    ok = resp.status == 200 and len(json.loads(payload)["faces"]) == 1
                    err = None if ok else f"{resp.status} {payload[:200]!r}"
                except (OSError, http.client.HTTPException, ValueError) as e:
                    err = f"{type(e).__name__}: {e}"
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                dt = time.perf_counter() - t0
                with lock:
                    self.done += 1
                    (errors.append(err) if err else latencies.append(dt))
                    if on_progress:
                        on_progress(self.done)
            conn.close()

        threads = [threading.Thread(target=client) for _ in range(clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        return latencies, errors, wall


def pct(values, q):
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--requests", type=int, nargs="+", default=[200, 400, 800], help="per concurrency level")
    ap.add_argument("--total", type=int, default=10_000, help="requests before the last memory reading")
    ap.add_argument("--max-seconds", type=float, default=2400, help="stop (and say so) after this long")
    ap.add_argument("--out", type=Path, help="write the figures as JSON here")
    a = ap.parse_args()
    if len(a.requests) != len(a.clients):
        ap.error("give one --requests count per --clients level")

    image = test_image()
    body, ctype = multipart(image)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "emorec", "serve", "--host", "127.0.0.1", "--port", str(port),
                               "--log-level", "warning"], stderr=subprocess.PIPE, text=True)
    start = time.monotonic()
    deadline = start + a.max_seconds
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
        print(f"server pid {server.pid} on 127.0.0.1:{port}, {health['limits']['workers']} analysis threads; "
              f"{os.cpu_count()} CPUs on this machine; image 640x480 JPEG {len(image) / 1024:.0f} KiB, one face")
        load = Load(port, body, ctype)
        memory = {}

        def progress(n):
            if n in (100, 1000, 2000, 5000, a.total) or n % 2500 == 0:
                memory.setdefault(n, rss_mib(server.pid))

        # warm-up (first requests load the model and fill caches): 100 requests, then the first reading
        lat, err, _ = load.run(4, 100, deadline, progress)
        assert not err, err[:3]
        rows = []
        for clients, count in zip(a.clients, a.requests):
            lat, err, wall = load.run(clients, count, deadline, progress)
            rows.append({"clients": clients, "requests": len(lat) + len(err), "errors": len(err),
                         "rps": (len(lat) + len(err)) / wall, "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99),
                         "mean_ms": statistics.fmean(lat) * 1000 if lat else float("nan"), "seconds": wall})
            if err:
                print(f"  errors at {clients} clients, e.g. {err[:3]}")
        print(f"\n{'clients':>7} {'requests':>8} {'errors':>6} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'mean ms':>7}")
        for r in rows:
            print(f"{r['clients']:>7} {r['requests']:>8} {r['errors']:>6} {r['rps']:>7.1f} {r['p50_ms']:>7.1f} "
                  f"{r['p99_ms']:>7.1f} {r['mean_ms']:>7.1f}")

        # memory: keep going to a.total requests (8 clients)
        left = a.total - load.done
        mem_err = []
        if left > 0:
            _, mem_err, _ = load.run(8, left, deadline, progress)
        memory.setdefault(load.done, rss_mib(server.pid))
        reached = load.done
        print(f"\nserver RSS (MiB) after N requests ({len(mem_err)} errors in the memory run):")
        for n in sorted(memory):
            print(f"  {n:>6}: {memory[n]:7.1f}")
        growth = memory[max(memory)] - memory[100]
        print(f"  growth from 100 to {reached}: {growth:+.1f} MiB")
        if reached < a.total:
            print(f"  (stopped at {reached} requests: --max-seconds {a.max_seconds:g} reached)")
        if a.out:
            a.out.write_text(json.dumps({"rows": rows, "rss_mib": memory, "memory_run_errors": len(mem_err),
                                         "requests": reached, "cpus": os.cpu_count(),
                                         "workers": health["limits"]["workers"]}, indent=1))
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
