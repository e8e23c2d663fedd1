"""Training curves of one or more run directories, drawn to an image without writing code.

`alphadev plot RUN [RUN ...] -o curves.png` puts every run on the same two panels against
elapsed time: the shortest correct program recorded so far, and the best fraction of correct
output items in each iteration's episodes. Several seeds or methods of one game compare at a
glance; the legend names each run by its directory.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

from alphadev.results import RecordError

__all__ = ["curves", "plot_runs"]

NEEDED = ("elapsed_s", "best_length", "best_items")


def curves(run: str | Path) -> dict[str, list[float]]:
    """The columns `plot_runs` draws from RUN/metrics.csv.

    Raises:
      RecordError: no such directory, no metrics yet, or metrics without the columns.
    """
    path = Path(run)
    if not path.is_dir():
        raise RecordError(f"{path}: no such run directory")
    file = path / "metrics.csv"
    rows = []
    if file.is_file():  # read only: plotting creates nothing in a run directory
        with file.open(newline="") as f:
            rows = list(csv.DictReader(f))
    if not rows:
        raise RecordError(f"{path}: no metrics.csv rows yet (has the run finished an iteration?)")
    missing = [c for c in NEEDED if c not in rows[0]]
    if missing:
        raise RecordError(f"{file}: no column(s) {', '.join(missing)}")
    try:
        return {c: [float(r[c]) for r in rows] for c in NEEDED}
    except (TypeError, ValueError):
        raise RecordError(f"{file}: a row that is not numbers (a truncated write?)") from None


def _labels(paths: Sequence[Path]) -> list[str]:
    """The shortest trailing parts of each path that tell the runs apart (seed0/agent, seed1/agent)."""
    parts = [p.resolve().parts for p in paths]
    for n in range(1, max(len(p) for p in parts) + 1):
        labels = ["/".join(p[-n:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
    return labels


def plot_runs(runs: Sequence[str | Path], out: str | Path, *, title: str | None = None) -> Path:
    """Draws the runs' curves to `out` (any format matplotlib writes: .png, .svg, .pdf).

    Returns:
      The path written.
    Raises:
      RecordError: for a run without metrics, or an output that is no image name or has no
        directory (before anything is drawn).
    """
    import matplotlib
    matplotlib.use("Agg")  # files only: no display is needed or wanted
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    out = Path(out)
    formats = plt.figure().canvas.get_supported_filetypes()
    plt.close("all")
    if out.suffix.lstrip(".").lower() not in formats:
        raise RecordError(f"-o {out}: not an image name matplotlib writes ({', '.join(sorted(formats))})")
    if not out.parent.is_dir():
        raise RecordError(f"-o {out}: no directory {out.parent}")
    data = [(Path(r), curves(r)) for r in runs]
    labels = _labels([path for path, _ in data])
    fig, (length_ax, items_ax) = plt.subplots(1, 2, figsize=(11, 3.8))
    for (_, m), label in zip(data, labels):
        found = [(t, n) for t, n in zip(m["elapsed_s"], m["best_length"]) if n > 0]
        line = items_ax.plot(m["elapsed_s"], m["best_items"], label=label, lw=1)[0]
        if found:
            times, lengths = zip(*found)
            length_ax.step(times, lengths, where="post", color=line.get_color(), label=label)
            length_ax.plot(times[:1], lengths[:1], "o", color=line.get_color())  # first correct program
    length_ax.set(xlabel="elapsed (s)", ylabel="shortest correct program (instructions)",
                  title="best length (dot: first correct)")
    items_ax.set(xlabel="elapsed (s)", ylabel="best fraction of correct items in an iteration", ylim=(0, 1.02),
                 title="correctness")
    length_ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    for ax in (length_ax, items_ax):
        ax.grid(alpha=0.3)
    items_ax.legend(fontsize="small", loc="lower right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
