"""The rendering processes: Typst holds the GIL while it compiles and Saxon must stay on the thread that
started it, so both run in separate processes, never on the event loop's process.

There are RENDER_CONCURRENCY_PER_ORG + 1 of them, so one organisation never holds them all; fair.py decides
whose render goes next. Each is a ProcessPoolExecutor of one spawned process (not forked: a fork would copy
the event loop's threads and a Saxon runtime), started on first use, so that one can be replaced alone: a
render or validation that runs longer than RENDER_TIMEOUT_SECONDS has its process killed (and reaped before
the 503 answers), and one that died is dropped; either way the next call starts a fresh one. The renderers
live as long as the process, not as long as one app: tests build many apps, and each new process would
compile the Schematron again.

Each executor is shut down when the process exits, also when that process is granian's forked worker: such
a process ends through multiprocessing, which runs its finalizers and then joins every child, but not
concurrent.futures' own exit hook, so an idle renderer left running would make that join (and the server's
SIGTERM) wait forever. Its finalizer runs before the call queue's own (exit priority 10), which would
otherwise stop the queue before the shutdown reaches it.

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
import logging
import multiprocessing
import multiprocessing.util
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, TypeVar

from app.config import Settings
from app.documents.errors import RenderTimeout
from app.documents.fair import FairShare

log = logging.getLogger("orbix.documents")

T = TypeVar("T")
# Rendering processes run at the lowest CPU priority: when renders take every core, the scheduler still
# gives the event loop its turn first, so other requests are not held up behind a batch of PDFs. On Linux
# that is the SCHED_IDLE policy (a waking API thread preempts an idle-class one at once; niceness +19 only
# lowers the weight, so the API still waited for the renderer's time slice); elsewhere niceness +19.
RENDER_NICENESS = 19
# Starting a process (spawn, imports, fonts) is not a render: it has its own, generous bound.
START_SECONDS = 120.0


@dataclass(frozen=True)
class Limits:
    """The fair share of rendering (API.md section 24), from the settings of the same names."""

    per_org: int
    wait_seconds: float
    max_pages: int
    timeout_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            per_org=settings.render_concurrency_per_org,
            wait_seconds=settings.render_wait_seconds,
            max_pages=settings.document_max_pages,
            timeout_seconds=settings.render_timeout_seconds,
        )


class Renderer:
    """One rendering process, which runs one call at a time (fair.py gives each renderer to one render)."""

    def __init__(self) -> None:
        self._executor: ProcessPoolExecutor | None = None
        self._finalizer: multiprocessing.util.Finalize | None = None
        self._pid = 0

    async def call(self, function: Callable[..., T], args: tuple[Any, ...], seconds: float) -> T:
        await self.start()
        executor = self._executor
        assert executor is not None
        try:
            async with asyncio.timeout(seconds) as deadline:
                return await asyncio.get_running_loop().run_in_executor(executor, function, *args)
        except TimeoutError:
            if not deadline.expired():  # the call itself raised it
                raise
            log.warning("a render ran longer than %g s: its process %d is replaced", seconds, self._pid)
            await self.replace()
            raise RenderTimeout(
                f"Rendering took longer than {seconds:g} s (RENDER_TIMEOUT_SECONDS); try again later"
            ) from None
        except BrokenProcessPool:
            await self.replace()
            raise
        except asyncio.CancelledError:  # no one waits for the call in hand: free the process for the next
            self.close(kill=True)
            raise

    async def start(self) -> int:
        """The id of the running process, started now if there is none."""
        if self._executor is None:
            executor = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_start_renderer
            )
            self._executor = executor
            self._finalizer = multiprocessing.util.Finalize(
                executor, executor.shutdown, kwargs={"cancel_futures": True}, exitpriority=100
            )
            try:  # the process's own id, to kill it if it gets stuck
                self._pid = await asyncio.wait_for(
                    asyncio.get_running_loop().run_in_executor(executor, os.getpid), START_SECONDS
                )
            except BaseException as error:
                self.close()
                if isinstance(error, TimeoutError):
                    raise RenderTimeout(f"A renderer took over {START_SECONDS:g} s to start") from None
                raise
        return self._pid

    async def replace(self) -> None:
        """Kill the process (if it still runs) and wait until it has ended; the next call starts another."""
        executor = self._drop(kill=True)
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)

    def close(self, *, kill: bool = False) -> None:
        """Let the process end after the call in hand (if any), or at once with `kill`."""
        executor = self._drop(kill=kill)
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def _drop(self, *, kill: bool) -> ProcessPoolExecutor | None:
        executor, finalizer, pid = self._executor, self._finalizer, self._pid
        self._executor, self._finalizer, self._pid = None, None, 0
        if finalizer is not None:
            finalizer.cancel()
        if kill and pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # it had died already
        return executor


class Renderers:
    """The rendering processes of this process, shared fairly between organisations."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._share = FairShare(limits.per_org + 1, limits.per_org, limits.wait_seconds)
        self._processes: list[Renderer] = []

    def configure(self, limits: Limits) -> None:
        """New limits, set before rendering starts (at start-up)."""
        self.limits = limits
        self._share = FairShare(limits.per_org + 1, limits.per_org, limits.wait_seconds)
        for extra in self._processes[self._share.renderers :]:
            extra.close()
        del self._processes[self._share.renderers :]

    @property
    def share(self) -> FairShare:
        return self._share

    async def run(self, org: str, function: Callable[..., T], *args: Any) -> T:
        async with self._share.turn(org) as slot:
            while len(self._processes) <= slot:
                self._processes.append(Renderer())
            return await self._processes[slot].call(function, args, self.limits.timeout_seconds)


renderers = Renderers(Limits.from_settings(Settings()))  # the defaults, until start-up configures them


def configure(settings: Settings) -> None:
    """The limits of this process's renders (the API's and the worker's start-up)."""
    renderers.configure(Limits.from_settings(settings))


def _start_renderer() -> None:
    """Runs first in each rendering process, before its first call."""
    _lower_priority()
    _exit_with_parent()
    from app.documents import build

    build.warm()


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


async def run_job(org: str, name: str, *args: Any) -> Any:
    """`app.documents.build.<name>(*args)` in a rendering process, as one of `org`'s renders."""
    return await renderers.run(org, _job, name, *args)


async def run(org: str, function: Callable[..., T], *args: Any) -> T:
    return await renderers.run(org, function, *args)
