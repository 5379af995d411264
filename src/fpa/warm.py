"""Children that import their heavy library first (dbt's and GX's imports take seconds) and then
wait for their job on stdin: started early in a night, the import overlaps the step before
theirs."""

import os
import subprocess
import sys


def start(module: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`python -m module`, its stdin waiting for the job, stdout and stderr in one pipe (the
    caller's `communicate(job)` returns the log)."""
    return subprocess.Popen(
        [sys.executable, "-m", module],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
