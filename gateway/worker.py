"""Gunicorn's gevent worker, made to stop cleanly whenever the stop comes.

``gunicorn.conf.py`` sets ``worker_class = "gateway.worker.GatewayWorker"`` and calls
``catch_early_stops`` from its ``post_fork`` hook. Two faults of the stock worker are
fixed here (both seen with Ctrl-C as soon as the gateway answered its first request):

- A stop that reaches a worker while it boots was lost. Between the fork and the
  worker's own ``init_signals``, the child still runs the master's signal handler, which
  only puts the signal on the master's queue - the child's copy of it, which nobody
  reads. The worker then booted and served as if nothing had happened, and the master,
  which had already asked it to quit, waited ``graceful_timeout`` (30 s) and killed it
  ("Worker ... was sent SIGKILL! Perhaps out of memory?").
- Ctrl-C signals the whole process group: a worker gets SIGINT from the terminal and
  SIGQUIT from the master. The stock worker answers each in a new greenlet that calls
  ``sys.exit(0)``; the second one runs while the interpreter is already shutting down
  (gevent's ``threading._shutdown``) and prints a ``SystemExit: 0`` traceback.
"""

from __future__ import annotations

import queue
import signal
import sys
import time
from types import FrameType
from typing import Any

import gevent
from gunicorn.workers.ggevent import GeventWorker

# The signals that ask a worker to stop: SIGTERM gracefully, SIGINT and SIGQUIT at once.
STOP_SIGNALS = (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM)


class GatewayWorker(GeventWorker):
    """The gevent worker, with a stop that is never lost and a quick stop that runs once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.early_stop: int | None = None  # a stop signal that came before our handlers
        self._quitting = False
        self._run_over = False

    # Before the worker's own handlers ----------------------------------------------

    def catch_early_stops(self, master_queue: queue.SimpleQueue[int]) -> None:
        """Called in the new process right after the fork (``post_fork``): from now on a
        stop signal is remembered, and one that the master's inherited handler already
        queued in this process's copy of the master's queue is taken from there."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._remember_stop)
        while True:
            try:
                sig = master_queue.get_nowait()
            except queue.Empty:
                break
            if sig in STOP_SIGNALS:
                self.early_stop = sig

    def _remember_stop(self, sig: int, frame: FrameType | None) -> None:
        self.early_stop = sig

    def init_signals(self) -> None:
        # A stop asked for while booting: leave now - nothing is served or held yet.
        if self.early_stop is not None:
            self.log.info("Worker stopping before it served (pid: %s, %s)", self.pid,
                          signal.Signals(self.early_stop).name)
            _ignore_stops()
            sys.exit(0)
        # Gunicorn resets every signal to its default action before it sets its handlers:
        # a SIGINT in that instant would kill the worker outright (SIGQUIT: a core dump).
        # Blocked, such a signal waits and reaches the new handler.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            super().init_signals()
            if self.early_stop is not None:  # came between the check above and the block
                self._quitting = True
                self.alive = False
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        if self.early_stop is not None:
            _ignore_stops()
            sys.exit(0)

    # Once the worker's own handlers are in place ---------------------------------------

    def handle_quit(self, sig: int, frame: FrameType | None) -> None:
        # SIGINT and SIGQUIT both mean "quit now"; the first one does it, later ones are
        # the same request again. Out of the signal handler, as Gunicorn does (#1126): the
        # quit may block.
        if self._quitting:
            return
        self._quitting = True
        self.alive = False
        gevent.spawn(self._quit)

    def _quit(self) -> None:
        self.cfg.worker_int(self)
        time.sleep(0.1)  # as Gunicorn's own quit: a moment for what worker_int started
        if self._run_over:
            # The worker is exiting already (a SIGTERM came first): a SystemExit now would
            # land in the interpreter's own shutdown and print a traceback.
            return
        sys.exit(0)

    def run(self) -> None:
        try:
            super().run()
        finally:
            self._run_over = True
            _ignore_stops()


def _ignore_stops() -> None:
    """The worker is on its way out: a stop signal now asks for nothing more. Ignored,
    because Python's shutdown puts back the default actions, and the master's SIGQUIT
    arriving then would end the worker by the signal ("Worker ... was sent SIGQUIT!")."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


def catch_early_stops(server: Any, worker: Any) -> None:
    """The ``post_fork`` hook's work: see ``GatewayWorker.catch_early_stops``. A worker of
    another class (``gunicorn -k ...``) keeps Gunicorn's behaviour."""
    if isinstance(worker, GatewayWorker):
        worker.catch_early_stops(server.SIG_QUEUE)
