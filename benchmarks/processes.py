"""Measuring a benchmark's call in a process of its own: its peak resident memory
(``VmHWM``), reset before the call, stopped if it passes a limit (the machine is shared),
and the time and memory of each phase of the call."""

from __future__ import annotations

import functools
import multiprocessing
import os
import threading
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

MIB = 2**20


# -- phases: time and peak resident size of each step ------------------------------------


def status(field: str, pid: int | str = "self") -> int:
    """A size in bytes from /proc/<pid>/status (VmRSS, VmHWM); 0 once the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def reset_peak() -> None:
    """Start this process's peak resident size (VmHWM) again from its current size."""
    Path("/proc/self/clear_refs").write_text("5")


class Phases:
    """Exclusive wall time of each phase and the highest resident size seen while it was
    the innermost phase running (sampled every 20 ms by a thread)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.peak: dict[str, int] = defaultdict(int)
        self.order: list[str] = []
        self._stack: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            for label in self._stack[-1:]:  # a copy: the stack may empty meanwhile
                self.peak[label] = max(self.peak[label], status("VmRSS"))

    def __enter__(self) -> Phases:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @contextmanager
    def phase(self, label: str) -> Iterator[None]:
        if label not in self.order:
            self.order.append(label)
        self._stack.append(label)
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            self._stack.pop()
            self.seconds[label] += elapsed
            if self._stack:
                self.seconds[self._stack[-1]] -= elapsed
            self.peak[label] = max(self.peak[label], status("VmRSS"))

    def wrap(self, owner: Any, name: str, label: str) -> None:
        """Time every call of ``owner.name`` (a module function or a method) as ``label``."""
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.phase(label):
                return original(*args, **kwargs)

        setattr(owner, name, timed)

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"phase": p, "seconds": round(self.seconds[p], 2), "peak_mib": self.peak[p] // MIB}
            for p in self.order
        ]


def _child(
    function: Callable[..., dict[str, Any]], args: tuple[Any, ...], conn: Connection
) -> None:
    # DuckDB draws progress bars on standard output; the result goes through the pipe.
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    try:
        conn.send(function(*args))
    except BaseException:
        conn.send({"error": traceback.format_exc()})
    finally:
        conn.close()


#: A child whose resident size passes this is stopped (the machine is shared).
MEMORY_LIMIT_MIB = 7168


def in_process(
    function: Callable[..., dict[str, Any]],
    *args: Any,
    limit_mib: int = MEMORY_LIMIT_MIB,
) -> dict[str, Any]:
    """``function(*args)`` (a module-level function returning a dict) in a fresh spawned
    process, so its peak resident size is its own; stopped, with an error, if its
    resident size passes ``limit_mib``."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(function, args, send))
    child.start()
    send.close()
    assert child.pid is not None
    result: dict[str, Any] | None = None
    try:
        while result is None:
            if receive.poll(0.2):
                result = receive.recv()
            elif status("VmRSS", child.pid) > limit_mib * MIB:
                child.kill()
                result = {"error": f"stopped: resident size above {limit_mib:,} MiB"}
            elif not child.is_alive() and not receive.poll(0.2):
                result = {"error": "the process ended without a result"}
    except EOFError:
        result = {"error": "the process ended without a result"}
    child.join()
    if "error" in result:
        result["error"] += f" (exit code {child.exitcode})"
    return result
