"""TensorBoard event files beside metrics.csv (`tensorboard --logdir RUN/tensorboard`).

Written through tensorboardX. Scalars are grouped by the part of the loop they describe
(`selfplay/`, `learner/`, `network/`, `greedy/`, `speed/`) so TensorBoard shows one panel per
part. A resumed run opens the writer with `purge_step` at its first new iteration: TensorBoard
then hides whatever an interrupted session wrote past the checkpoint it resumed from, as
metrics.csv is truncated to it.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Optional

__all__ = ["Board", "GROUPS"]

# The panel of each metric; names not listed go to "other/".
GROUPS = {
    "selfplay": ("episodes", "expansions", "mean_items", "best_items", "solved", "best_length", "archive",
                 "solved_from_archive", "solved_from_empty"),
    "learner": ("loss", "loss_policy", "loss_value", "loss_reward"),
    "speed": ("elapsed_s", "moves_per_s"),
    "greedy": ("greedy_correct", "greedy_items", "greedy_length"),
}


def _tag(name: str) -> str:
    for group, names in GROUPS.items():
        if name in names:
            return f"{group}/{name}"
    return f"network/{name}"  # the diagnostics' figures (alphadev/diagnostics.py)


class Board:
    """Writes scalars to DIR (event files).

    Args:
      path: the directory of the event files.
      first_step: the first iteration this session writes; earlier sessions' events at or past
        it are purged (see the module docstring).
    """

    def __init__(self, path: str | Path, *, first_step: Optional[int] = None):
        from tensorboardX import SummaryWriter
        self.writer = SummaryWriter(str(path), purge_step=first_step, flush_secs=30)

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        """Logs each finite number of `values` at `step` (booleans as 0/1; NaN marks a figure
        that is undefined this step, and is left out)."""
        for name, value in values.items():
            if isinstance(value, (bool, int, float)) and math.isfinite(value):
                self.writer.add_scalar(_tag(name), value, step)

    def close(self) -> None:
        self.writer.close()
