"""Run by test_devices.py in a fresh process with two host devices (XLA_FLAGS set by the test):
trains sort2 for two iterations and prints, as JSON, how the work was placed."""
from __future__ import annotations

import json
import sys

import jax
import numpy as np

from alphadev import devices
from alphadev.config import load_config
from alphadev.train import Trainer

TINY = {"target_length": 0, "minutes": 5, "selfplay_batch": 4, "checkpoint_every": 1,
        "net": {"dim": 16, "layers": 1, "heads": 2}, "search": {"simulations": 8, "max_considered_actions": 8},
        "learner": {"batch": 16, "steps_per_iteration": 2}}


def placement(x) -> list:
    """[(device id, shard shape)] of an array's shards."""
    return sorted((s.device.id, list(s.data.shape)) for s in x.addressable_shards)


def main(out: str) -> None:
    trainer = Trainer(load_config("sort2", **TINY), out, quiet=True)
    traj = trainer.play(trainer.state["params"], jax.random.PRNGKey(0))
    trainer.replay.add(traj)
    batch = devices.shard(trainer.replay.sample(16, 0), trainer.mesh)
    trainer.train(max_iterations=2)
    params = jax.tree_util.tree_leaves(trainer.state["params"])[0]
    print(json.dumps(dict(
        devices=len(jax.devices()), mesh=trainer.mesh.size,
        final_length=placement(traj.final.length), actions=placement(traj.actions),
        obs=placement(jax.tree_util.tree_leaves(batch["obs"])[0]), policy=placement(batch["policy"]),
        params=placement(params), iterations=int(trainer.iteration),
        metrics_devices=trainer.run.metrics()["devices"],
        finite=bool(all(np.isfinite(np.asarray(x)).all() for x in jax.tree_util.tree_leaves(trainer.state["params"]))))))


if __name__ == "__main__":
    main(sys.argv[1])
