"""Cold start and peak memory of `emorec detect` on the bundled sample: from process start to exit,
measured in one run (each run a fresh process; the OS file cache is warm after the first).

    python bench/bench_cold_start.py [--runs 5]

Measured 2026-11-25 (2 CPUs, idle, 5 runs after one warm-up; after the detector interface and pipeline):
    command                                  median s  min s peak RSS MiB
    python -c pass (interpreter alone)           0.01   0.01           13
    emorec detect (sample, annotated copy)       0.33   0.29          107
    emorec detect --json --no-save               0.31   0.29          106
    emorec --help                                0.13   0.13           25
(Before: 0.42 s and 125 MiB for `emorec detect`.)
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def run(cmd, cwd):
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {p.stderr.read().decode()}")
    return dt, usage.ru_maxrss / 1024  # Linux: KiB -> MiB


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    exe = shutil.which("emorec")
    commands = {
        "python -c pass (interpreter alone)": [sys.executable, "-c", "pass"],
        "emorec detect (sample, annotated copy)": [exe, "detect"] if exe else [sys.executable, "-m", "emorec", "detect"],
        "emorec detect --json --no-save": ([exe] if exe else [sys.executable, "-m", "emorec"]) + ["detect", "--json", "--no-save"],
        "emorec --help": ([exe] if exe else [sys.executable, "-m", "emorec"]) + ["--help"],
    }
    print(f"{os.cpu_count()} CPUs; {a.runs} runs each (after one warm-up run)")
    print(f"{'command':<40} {'median s':>8} {'min s':>6} {'peak RSS MiB':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, cmd in commands.items():
            run(cmd, tmp)
            res = [run(cmd, tmp) for _ in range(a.runs)]
            times = [r[0] for r in res]
            print(f"{name:<40} {statistics.median(times):>8.2f} {min(times):>6.2f} {max(r[1] for r in res):>12.0f}")


if __name__ == "__main__":
    main()
