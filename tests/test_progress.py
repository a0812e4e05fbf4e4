"""The progress facility (`sedse._progress`): silent in the library, lines on stderr
from the CLI for work over a few seconds, nothing under --quiet."""

from __future__ import annotations

import pytest

from sedse import _progress
from sedse._progress import configure, task


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(_progress.time, "monotonic", c)
    yield c
    configure(False)


def test_silent_unless_configured(clock, capsys):
    with task("work", total=3, unit="layers") as t:
        for _ in range(3):
            clock.t += 60
            t.advance(note="x")
    assert capsys.readouterr().err == ""


def test_lines_with_counts_and_time_left_off_a_terminal(clock, capsys):
    configure(True)
    with task("resnet18 on eyeriss", total=4, unit="layers") as t:
        clock.t += 1.0
        t.advance(note="conv1")           # within the first 3 s: nothing yet
        assert capsys.readouterr().err == ""
        clock.t += 5.0
        t.advance(note="layer1.0.conv1")  # 6 s in, 2 of 4 done: about 6 s left
        err = capsys.readouterr().err
        assert err == "sedse: resnet18 on eyeriss: 2/4 layers, 6 s, about 6 s left " \
                      "(layer1.0.conv1)\n"
        clock.t += 1.0
        t.advance(note="a")               # 1 s after a line: too soon for another
        assert capsys.readouterr().err == ""
        clock.t += 1.0
        t.advance(note="fc")
    # the end is always reported once something was
    assert capsys.readouterr().err == "sedse: resnet18 on eyeriss: 4/4 layers, 8 s (fc)\n"


def test_short_work_stays_silent(clock, capsys):
    configure(True)
    with task("quick", total=2) as t:
        t.advance()
        t.advance()
    assert capsys.readouterr().err == ""


def test_cli_reports_long_work_and_quiet_silences_it(monkeypatch, capsys):
    """The CLI switches progress on (stderr; plain lines off a terminal) and --quiet
    switches it off; stdout is the same. The thresholds are set to 0 here so that the
    check does not depend on how fast this machine searches."""
    from sedse.cli import main

    monkeypatch.setattr(_progress, "FIRST_AFTER_S", 0.0)
    monkeypatch.setattr(_progress, "LOG_EVERY_S", 0.0)
    argv = ["eval", "--model", "lenet5", "--hw", "eyeriss", "--budget", "300"]
    assert main(argv) == 0
    loud = capsys.readouterr()
    assert main(["--quiet", *argv]) == 0
    quiet = capsys.readouterr()
    assert "sedse: lenet5 on eyeriss: 1/5 layers" in loud.err
    assert "sedse: lenet5 on eyeriss: 5/5 layers" in loud.err
    assert quiet.err == "" and loud.out == quiet.out
    assert not _progress.enabled()       # main() leaves the process silent again


def test_time_left_ignores_work_done_before(clock, capsys):
    """A resumed study: 8 of 10 trials were done before; 1 more in 20 s leaves about
    20 s for the last one (not 2.5 s from counting the old 8 as free)."""
    configure(True)
    with task("study", total=10, unit="trials") as t:
        t.resume(8)
        clock.t += 20.0
        t.advance(note="#9")
        assert "9/10 trials, 20 s, about 20 s left" in capsys.readouterr().err
