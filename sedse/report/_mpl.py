"""Drawing without process-wide state: figures are `matplotlib.figure.Figure` objects
saved straight to a file (no pyplot, no backend switch, nothing shown), so importing or
calling sedse never changes a host program's matplotlib set-up."""

from __future__ import annotations

from pathlib import Path

#: one colour and label per energy category (`sedse.cost.CATEGORIES`)
COLOURS = {"dram": "#4e79a7", "global_buffer": "#f28e2b", "noc": "#76b7b2",
           "register_file": "#59a14f", "mac": "#edc948", "rebuild": "#e15759",
           "index": "#b07aa1"}
LABELS = {"dram": "DRAM", "global_buffer": "global buffer", "noc": "NoC",
          "register_file": "register file", "mac": "MAC", "rebuild": "rebuild (shift-add)",
          "index": "index"}
DPI = 110


def figure(nrows: int = 1, ncols: int = 1, **kw):
    """A new figure and its axes (``Figure.subplots`` arguments)."""
    from matplotlib.figure import Figure

    figsize = kw.pop("figsize", None)
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kw)


def save(fig, path: Path) -> Path:
    """Lay the figure out, write it to `path` (format from the suffix), return `path`."""
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    return path
