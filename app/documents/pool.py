"""The bounded pool of rendering processes: Typst holds the GIL while it compiles and Saxon must stay on
the thread that started it, so both run in separate processes, never on the event loop's process.

Processes are spawned (not forked: a fork would copy the event loop's threads and a Saxon runtime) on first
use, at most RENDER_PROCESSES of them; further jobs wait in the executor's queue. A pool whose process died
is replaced for the next call. The pool lives as long as the process, not as long as one app: tests build
many apps, and each new pool would compile the Schematron again. It is shut down when the process exits,
also when that process is granian's forked worker: such a process ends through multiprocessing, which
runs its finalizers and then joins every child, but not concurrent.futures' own exit hook, so an idle pool
left running would make that join (and the server's SIGTERM) wait forever. Its finalizer runs before the
call queue's own (exit priority 10), which would otherwise stop the queue before the shutdown reaches it.

A process can also end without any finalizer: uvicorn re-raises the SIGTERM it handled, a process may be
killed, or crash. So each rendering process watches its parent itself and exits as soon as the parent is
gone, whatever ended it (after the render in hand, which holds the GIL): the end of the pipe its parent
started it through (multiprocessing's `parent_process().sentinel`) becomes readable when the parent's end
closes, which the kernel does when the parent exits (and the parent when it drops the process). With the
renderers gone, multiprocessing's resource tracker, which lives until every process holding its pipe has
closed it, exits as well. tests/system/test_renderers.py ends granian and uvicorn servers that rendered.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.util
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

T = TypeVar("T")
# At most 2, and one fewer than the cores: the API process keeps a core to itself while renders queue.
RENDER_PROCESSES = max(1, min(2, (os.cpu_count() or 1) - 1))
# Rendering processes run at the lowest CPU priority: when renders take every core, the scheduler still
# gives the event loop its turn first, so other requests are not held up behind a batch of PDFs. On Linux
# that is the SCHED_IDLE policy (a waking API thread preempts an idle-class one at once; niceness +19 only
# lowers the weight, so the API still waited for the renderer's time slice); elsewhere niceness +19.
RENDER_NICENESS = 19

_executor: ProcessPoolExecutor | None = None


def _pool() -> ProcessPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ProcessPoolExecutor(
            max_workers=RENDER_PROCESSES,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_renderer,
        )
        multiprocessing.util.Finalize(
            _executor, _executor.shutdown, kwargs={"cancel_futures": True}, exitpriority=100
        )
    return _executor


def _start_renderer() -> None:
    """Runs first in each rendering process."""
    _lower_priority()
    _exit_with_parent()


def _exit_with_parent() -> None:
    """A daemon thread that ends this rendering process once its parent has ended (see the module's doc)."""
    parent = multiprocessing.parent_process()
    if parent is None:  # not started by multiprocessing: nothing to watch
        return

    def watch() -> None:
        parent.join()  # returns once the parent's end of the pipe is closed: the parent has exited
        os._exit(0)  # nothing to flush or finish: a render in hand has no one left to return to

    threading.Thread(target=watch, name="orbix-parent-watch", daemon=True).start()


def _lower_priority() -> None:
    """Before Typst or Saxon start threads (which inherit it)."""
    if hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    else:
        os.nice(RENDER_NICENESS)


def _job(name: str, *args: Any) -> Any:
    """Runs in a rendering process: only there are Typst, Saxon, lxml and factur-x imported."""
    from app.documents import build

    return getattr(build, name)(*args)


async def run_job(name: str, *args: Any) -> Any:
    """`app.documents.build.<name>(*args)` in a rendering process."""
    return await run(_job, name, *args)


async def run(function: Callable[..., T], *args: Any) -> T:
    global _executor
    pool = _pool()
    try:
        return await asyncio.get_running_loop().run_in_executor(pool, function, *args)
    except BrokenProcessPool:
        if _executor is pool:
            _executor = None
        raise
