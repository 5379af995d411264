"""Children that import their heavy library first (dbt's and GX's imports take seconds) and then
wait for their job on stdin: started early in a night, the import overlaps the step before
theirs. They die with the process that started them (child_of_the_night)."""

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from fpa.child import die_with_parent

PARENT = "FPA_WARM_PARENT"  # the starting process's id, in the child's environment


def start(
    module: str, env: dict[str, str] | None = None, args: Sequence[str] = ()
) -> subprocess.Popen:
    """`python -m module args`, its stdin waiting for the job, stdout and stderr in one pipe
    (the caller's `communicate(job)` returns the log). Started from the thread that waits for
    it: the child dies when that thread ends (child_of_the_night)."""
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {}), PARENT: str(os.getpid())},
    )


def child_of_the_night() -> bool:
    """Called first by a child of start(): SIGTERM when its parent dies, and False when the
    parent is gone already. A night killed (`kill`, the out-of-memory killer, a scheduler's
    timeout) runs none of its cleanup, and its dbt went on building with the state attached
    and the work database open — the next night's ingest could not write the state until it
    ended, and its build shared dbt's target folder with it — and its GX went on judging."""
    parent = os.environ.pop(PARENT, None)
    return die_with_parent(int(parent) if parent else os.getppid(), signal.SIGTERM)


def exit_now(code: int) -> None:
    """End a child of start() without the interpreter's teardown, which with dbt's or GX's
    modules loaded takes ~1 s that the night, reading the child's output to its end, waits for.
    The caller has closed what it wrote."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def start_dbt(warehouse: Path | None = None) -> subprocess.Popen:
    """dbt's child (fpa.build's job runner, which runs the job `build` gives it), startable
    before anything heavy is imported: `fpa load` starts it first thing, so that dbt's import
    (1.3 s from compiled bytecode) overlaps its own (~0.5 s) and the ingest. Given the
    warehouse, the child also parses the project meanwhile (fpa.build._parse_ahead)."""
    return start("fpa.build", args=[str(warehouse.resolve())] if warehouse else [])


def stop(child: subprocess.Popen | None) -> None:
    """End a child that was started and not given its job: asked first (dbt's removes the
    folder it parsed in), killed if it does not end within a few seconds."""
    if child is not None and child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@contextmanager
def stopped_on_error(child: subprocess.Popen | None) -> Iterator[None]:
    """A child given to a step that fails before it gives it its job (another run holds the
    state) is ended, not left waiting."""
    try:
        yield
    except BaseException:
        stop(child)
        raise
