"""Peak memory of a process and all its descendants, summed: what the machine must hold at once (a
night's CLI, its dbt and GX children overlap). Each process counts its proportional set size
(PSS: a page shared by n processes counts 1/n in each), so the sum is the memory the tree holds:
a plain sum of RSS counts shared pages once per process — a forked child before its exec (the
ingest's iconv) would count its parent's whole memory a second time. Sampled every 100 ms with
psutil (reading every process's PSS costs CPU: at 20 ms the sampler took a quarter of a core
from what it measured), so a spike shorter than that can be missed; os.wait4's ru_maxrss (the
largest single process) is reported beside it."""

import os
import subprocess
import threading
import time

import psutil


def _tree_rss(root: psutil.Process) -> int:
    total = 0
    for p in [root, *root.children(recursive=True)]:
        try:
            total += p.memory_full_info().pss
        except psutil.Error:  # ended between the listing and the reading
            pass
    return total


def run(cmd: list[str], **popen) -> tuple[float, int, int, subprocess.Popen]:
    """Run cmd to its end: (wall s, tree peak MiB, largest process MiB, the finished Popen)."""
    t = time.monotonic()
    proc = subprocess.Popen(cmd, **popen)
    root = psutil.Process(proc.pid)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            try:
                peak = max(peak, _tree_rss(root))
            except psutil.Error:
                return
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    largest = usage.ru_maxrss // 1024
    return wall, peak // 2**20, largest, proc
