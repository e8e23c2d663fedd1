"""`alphadev train`, killed with SIGKILL at one chosen point of its writes (test_fault_injection).

    python tests/alphadev/fault_child.py POINT N train ARGS...

POINT names a write; the process kills itself at the N-th time it reaches it (N >= 1):
  record, best, replay, archive: the file's temporary copy is written whole, not yet renamed
  between: a record is written, best.json not yet
  metrics: half a metrics row is written
  checkpoint: orbax's save of a step has begun and not finished
  none: no kill
The code under test is the installed one; only these points are wrapped.
"""
import os
import pathlib
import signal
import sys

point, hits = sys.argv[1], int(sys.argv[2])
seen = 0


def reached() -> None:
    global seen
    seen += 1
    if seen == hits:
        print(f"fault_child: SIGKILL at {point} #{hits}", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


replace = pathlib.Path.replace
TARGETS = {"record": lambda t: t.parent.name == "records", "best": lambda t: t.name == "best.json",
           "replay": lambda t: t.name == "replay.npz", "archive": lambda t: t.name == "archive.npz"}


def replace_then_maybe_die(self, target):
    target = pathlib.Path(target)
    if point in TARGETS and TARGETS[point](target):
        reached()
    out = replace(self, target)
    if point == "between" and target.parent.name == "records":
        reached()
    return out


pathlib.Path.replace = replace_then_maybe_die

if point == "metrics":
    from alphadev.rundir import RunDir

    log = RunDir.log

    def half_a_row(self, **row):
        if seen + 1 == hits and (self.path / "metrics.csv").exists():
            with (self.path / "metrics.csv").open("a") as f:
                f.write(",".join(map(str, row.values()))[:9])
        reached()
        log(self, **row)

    RunDir.log = half_a_row

if point == "checkpoint":
    import orbax.checkpoint as ocp

    save = ocp.CheckpointManager.save

    def save_then_maybe_die(self, *args, **kwargs):
        out = save(self, *args, **kwargs)  # returns with the write going on in the background
        reached()
        return out

    ocp.CheckpointManager.save = save_then_maybe_die

if __name__ == "__main__":  # not in the checks' workers, which import the main module (spawn)
    from alphadev.cli import main

    sys.exit(main(sys.argv[3:]))
