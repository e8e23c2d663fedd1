"""Regenerates `isa/data/schedule-MCPU.json` from llvm-mca (see isa/schedule.py): every form of
the ISA and of every registered game's vocabulary (hence here, in games, not in isa).

    python -m games.regenerate_schedule --mcpu skylake
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Optional

import games
import isa
from isa import schedule as sched

def vocabulary_forms() -> list[isa.Instruction]:
    """Every instruction of every registered game's vocabulary, canonical."""
    return [sched.canonical(item) for name in games.names() for item in games.make(name).task.vocabulary
            if isinstance(item, isa.Instruction)]


# llvm-mca does not print a CPU's misprediction penalty: these are read off LLVM's TableGen files.
_MISPREDICT = {"skylake": (14, "llvm/lib/Target/X86/X86SchedSkylakeClient.td: SkylakeClientModel, "
                               "MispredictPenalty = 14")}


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m games.regenerate_schedule", description=__doc__.splitlines()[0])
    parser.add_argument("--mcpu", default="skylake")
    parser.add_argument("--mispredict-penalty", type=int,
                        help="MispredictPenalty of the CPU's SchedMachineModel in LLVM (known for skylake)")
    parser.add_argument("--mispredict-source", help="where that figure comes from (known for skylake)")
    args = parser.parse_args(argv)
    if args.mispredict_penalty is None and args.mcpu in _MISPREDICT:
        args.mispredict_penalty, args.mispredict_source = _MISPREDICT[args.mcpu]
    if args.mispredict_penalty is None or not args.mispredict_source:
        print(f"python -m games.regenerate_schedule: --mispredict-penalty and --mispredict-source are needed for "
              f"{args.mcpu} (the MispredictPenalty of its SchedMachineModel in LLVM)", file=sys.stderr)
        return 2
    forms, meta = sched.extract(sched.isa_forms() + vocabulary_forms(), args.mcpu)
    sched.DATA.mkdir(exist_ok=True)
    path = sched.DATA / f"schedule-{args.mcpu}.json"
    raw = dict(mcpu=args.mcpu, **meta, mispredict_penalty=args.mispredict_penalty,
               mispredict_source=args.mispredict_source, forms=dict(sorted(forms.items())))
    path.write_text(json.dumps(raw, indent=1) + "\n")
    print(f"{path}: {len(forms)} forms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
