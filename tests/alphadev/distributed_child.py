"""Run by test_devices.py: one of two processes training sort2 together on localhost.

    python -m tests.alphadev.distributed_child PORT PROCESS_ID OUT

Prints, as JSON, digests of the parameters it ends with and of the episodes it played itself."""
from __future__ import annotations

import hashlib
import json
import sys

import numpy as np

from alphadev import distributed

TINY = {"target_length": 0, "minutes": 5, "selfplay_batch": 4, "checkpoint_every": 1,
        "net": {"dim": 16, "layers": 1, "heads": 2}, "search": {"simulations": 8, "max_considered_actions": 8},
        "learner": {"batch": 16, "steps_per_iteration": 2}}


def digest(tree) -> str:
    import jax
    h = hashlib.sha256()
    for leaf in jax.tree_util.tree_leaves(tree):
        h.update(np.ascontiguousarray(leaf).tobytes())
    return h.hexdigest()[:16]


def main(port: str, process_id: str, out: str) -> None:
    distributed.initialize(coordinator=f"localhost:{port}", num_processes=2, process_id=int(process_id))
    import jax

    from alphadev.config import load_config
    from alphadev.train import Trainer
    trainer = Trainer(load_config("sort2", **TINY), out, quiet=True)
    played = []
    play = trainer.play

    def recording(*args, **kwargs):  # the episodes this process gets back from each iteration
        traj = play(*args, **kwargs)
        played.append(np.asarray(traj.actions))
        return traj
    trainer.play = recording
    trainer.train(max_iterations=2)
    params = jax.device_get(trainer.state["params"])
    print(json.dumps(dict(process=jax.process_index(), processes=jax.process_count(), params=digest(params),
                          episodes=digest(played), shapes=[list(a.shape) for a in played],
                          iteration=int(trainer.iteration))), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
