"""One progress facility for long work: training epochs, compression per layer,
mapping searches per layer, study trials.

Silent unless switched on with `configure` (the CLI does, except under ``--quiet``), so
the library prints nothing on its own. On a terminal a task redraws one status line on
stderr; elsewhere (a pipe, a CI log) it writes a line when the task starts, at most
every `LOG_EVERY_S` seconds, and when it ends. Results stay on stdout.

    with task("mapping search", total=len(layers), unit="layer") as t:
        for layer in layers:
            ...
            t.advance(note=layer.name)
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

LOG_EVERY_S = 10.0     # not on a terminal: a line at most this often
FIRST_AFTER_S = 3.0    # ... and none for work that ends sooner (a terminal: 0.5 s)
_state = {"on": False}


def configure(enabled: bool) -> None:
    """Switch progress output on or off for this process (off by default)."""
    _state["on"] = bool(enabled)


def enabled() -> bool:
    return _state["on"]


def _clock(s: float) -> str:
    s = max(0, int(round(s)))
    return f"{s // 60}:{s % 60:02d}" if s >= 60 else f"{s} s"


class Task:
    def __init__(self, what: str, total: int | None, unit: str, stream, tty: bool):
        self.what, self.total, self.unit = what, total, unit
        self.done, self.note = 0, ""
        self.base = 0       # done before this process started (not in the rate)
        self._stream, self._tty = stream, tty
        self._t0 = time.monotonic()
        # the first line waits: work that ends quickly stays silent
        self._last = self._t0 - LOG_EVERY_S + (0.5 if tty else FIRST_AFTER_S)
        self._shown = False

    def status(self) -> str:
        """The line shown: what, how far, elapsed, the estimated time left, the note."""
        el = time.monotonic() - self._t0
        line = f"sedse: {self.what}"
        if self.total:
            line += f": {self.done}/{self.total} {self.unit}".rstrip()
            if self.base < self.done < self.total:
                left = el / (self.done - self.base) * (self.total - self.done)
                line += f", {_clock(el)}, about {_clock(left)} left"
            else:
                line += f", {_clock(el)}"
        elif self.done:
            line += f": {self.done} {self.unit}".rstrip() + f", {_clock(el)}"
        return line + (f" ({self.note})" if self.note else "")

    def advance(self, n: int = 1, note: str = "") -> None:
        self.done += n
        self.note = note
        self._show()

    def resume(self, n: int) -> None:
        """Count `n` done before this process began (e.g. a resumed study's trials)."""
        self.done += n
        self.base += n

    def say(self, note: str) -> None:
        """Change the note without advancing (e.g. an epoch's loss)."""
        self.note = note
        self._show()

    def _show(self, final: bool = False) -> None:
        now = time.monotonic()
        due = now - self._last >= (0.2 if self._tty and self._shown else LOG_EVERY_S)
        if not (due or (final and self._shown)):
            return
        if self._tty:
            self._stream.write("\r\033[K" + self.status() + ("\n" if final else ""))
        else:
            self._stream.write(self.status() + "\n")
        self._stream.flush()
        self._last, self._shown = now, True


class _Silent:
    done = 0

    def advance(self, n: int = 1, note: str = "") -> None:
        self.done += n

    def resume(self, n: int) -> None:
        self.done += n

    def say(self, note: str) -> None:
        pass


@contextmanager
def task(what: str, total: int | None = None, unit: str = "", *, quiet: bool = False):
    """A unit of long work to report (see the module docstring); `quiet`: not this one."""
    if quiet or not _state["on"]:
        yield _Silent()
        return
    stream = sys.stderr
    tty = bool(getattr(stream, "isatty", lambda: False)())
    t = Task(what, total, unit, stream, tty)
    try:
        yield t
    finally:
        t._show(final=True)
