"""The second half of a latency search: re-rank a run's best programs on the real CPU.

Training keeps every distinct correct program at most as long as the best (`candidates.jsonl`,
with the cycle model's figure). As AlphaDev did, only a few are measured natively: the `top`
shortest ones with the fewest model cycles are verified, timed in one `alphadev.bench` run
beside the task's references (and AlphaDev's kernels, given their file), and the fastest by
the geometric mean of its throughput and latency figures becomes a verified record carrying
the model's cycles, llvm-mca's and the native figures.
"""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Optional

import isa
from alphadev.bench import Report, bench
from alphadev.results import MIN_RANDOM_INPUTS, Record, RecordError
from alphadev.rundir import RunDir

__all__ = ["rerank", "shortlist"]


def shortlist(run: str | Path, top: int) -> tuple[str, list[dict]]:
    """(game, the `top` candidates of the shortest length kept, fewest model cycles first).

    Raises:
      RecordError: one line, for a directory that is no run or holds no candidate.
    """
    path = Path(run)
    try:
        game = json.loads((path / "run.json").read_text())["game"]
    except (OSError, ValueError, KeyError, TypeError):
        raise RecordError(f"{path}: not a run directory (no readable run.json)") from None
    candidates = RunDir(path).candidates()
    if not candidates:
        raise RecordError(f"{path}: no candidates.jsonl entries (the run has found no correct program, or was "
                          "written before candidates were kept)")
    shortest = min(c["length"] for c in candidates)
    best = sorted((c for c in candidates if c["length"] == shortest), key=lambda c: c["model_cycles"])
    return game, best[:top]


def rerank(run: str | Path, *, top: int = 8, n_random: int = MIN_RANDOM_INPUTS,
           alphadev: Optional[list[tuple[str, isa.Program]]] = None, reps: int = 21,
           progress=print) -> tuple[Record, Report]:
    """Verifies and times a run's shortlist natively; returns the fastest as a record, and the report.

    Args:
      run: the run directory.
      top: candidates measured natively.
      n_random: random inputs each is verified on (below `MIN_RANDOM_INPUTS`, export and bench
        will refuse the record).
      alphadev: AlphaDev's kernels for the game, already verified, timed beside them.
      reps: bench passes per kernel and mode.
    Raises:
      RecordError: no run, no candidate, or no candidate passes verification.
    """
    from alphadev.verify import verify
    game, chosen = shortlist(run, top)
    passed = []
    for k, c in enumerate(chosen):
        program = isa.parse(c["text"])
        progress(f"verifying candidate {k} ({c['length']} instructions, {c['model_cycles']:.2f} model cycles) "
                 f"on {n_random:,} random inputs")
        result = verify(program, game, n_random=n_random)
        if result.passed:
            passed.append((f"candidate {k} ({c['model_cycles']:.2f} model cycles)", program, c, result))
        else:
            progress(f"candidate {k} fails verification: {result.first_failure}")
    if not passed:
        raise RecordError(f"{run}: none of the {len(chosen)} candidates passes verification")
    report = bench(game, [(name, program) for name, program, _, _ in passed], alphadev=alphadev or [], reps=reps)
    rows = {mode: {r.name: r for r in report.modes[mode]} for mode in report.modes}
    score = lambda name: math.sqrt(rows["throughput"][name].median * rows["latency"][name].median)
    name, program, c, result = min(passed, key=lambda p: score(p[0]))
    native = {mode: dict(cycles=round(rows[mode][name].median, 3), vs_reference=round(rows[mode][name].ratio, 4),
                         **({"vs_alphadev": round(rows[mode][name].alphadev_ratio, 4)} if alphadev else {}))
              for mode in rows}
    native.update(unit=report.counter, ticks_per_cycle=report.ticks_per_cycle)
    try:
        mca = isa.latency.mca(program)
        mca_figures = dict(cycles=mca.cycles, mcpu=mca.mcpu)
    except (isa.latency.McaUnavailable, ValueError):
        mca_figures = dict(cycles=None)
    record = Record.of(game, program, source=f"alphadev rerank {run} ({name})", verification=dataclasses.asdict(result),
                       latency=dict(model_cycles=c["model_cycles"], native=native, **mca_figures))
    return record, report
