"""A step run in a forked child of the night: what its work allocated (DuckDB's cache, the
allocations of a whole inbox's parse) is the system's again when it ends, instead of staying in
the CLI beside dbt's and the gate's processes for the rest of the night (the night's processes
together keep to 1 GB; bench/history.py measures the tree).

Forked, not spawned: the child shares the CLI's imports and holds what the CLI holds (the state
lock's descriptor, the progress callback), and nothing is pickled but the result. It dies with
the CLI (a killed night leaves no writer behind)."""

import ctypes
import multiprocessing
import os
import signal
import traceback
from collections.abc import Callable
from typing import Any

PR_SET_PDEATHSIG = 1


class ChildFailed(RuntimeError):
    """The child ended without a result (killed, out of memory) or raised what cannot be
    carried back as it was."""


def die_with_parent(parent: int, sig: int = signal.SIGKILL) -> bool:
    """The kernel sends this process `sig` when the thread that started it ends: its parent
    killed, whose own cleanup never runs. False when `parent` had died already, before the
    request took effect: the caller ends at once."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, sig)
    except (OSError, AttributeError):  # not Linux: the child may outlive a killed parent
        pass
    return os.getppid() == parent


def run(fn: Callable[..., Any], *args, **kwargs) -> Any:
    """fn(*args, **kwargs) in a forked child; its result or its exception, raised here."""
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    parent = os.getpid()

    def target() -> None:
        if not die_with_parent(parent):
            os._exit(1)
        receive.close()
        try:
            outcome = ("ok", fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - carried to the parent, raised there
            outcome = ("error", exc, traceback.format_exc())
        try:
            send.send(outcome)
        except Exception:  # an exception that does not pickle
            send.send(("error", ChildFailed(outcome[-1] if outcome[0] == "error" else "?"), ""))
        send.close()

    process = ctx.Process(target=target, daemon=False)
    process.start()
    send.close()
    try:
        outcome = receive.recv()
    except EOFError:
        outcome = None
    process.join()
    if outcome is None:
        raise ChildFailed(f"the child ended with {process.exitcode} and no result")
    if outcome[0] == "error":
        exc = outcome[1]
        if outcome[2]:
            exc.add_note("raised in the child:\n" + outcome[2])
        raise exc
    return outcome[1]
