"""alphadev: the agent (networks, mctx search, self-play, archive, replay, learner, training loop)
and the tools a kernel leaves the lab with (records, verify, bench, export, inspection).

The public names below load their module on first use, so `import alphadev` (and the CLI)
stays fast. The functions `alphadev.verify.verify` and `alphadev.bench.bench` stay in their
modules (a re-export would shadow the module of the same name).
"""
import importlib

_HOMES = {
    "Ablation": "config", "ConfigError": "config", "TrainConfig": "config", "load_config": "config",
    "load_run_config": "config", "header": "export", "LearnerConfig": "learner", "NetConfig": "networks",
    "Record": "results", "RecordError": "results", "load": "results", "RunDir": "rundir", "Search": "search",
    "SearchConfig": "search", "Trainer": "train", "Verification": "verify",
}
__all__ = list(_HOMES)


def __getattr__(name):
    if name not in _HOMES:
        raise AttributeError(f"module 'alphadev' has no attribute {name!r}")
    return getattr(importlib.import_module(f"alphadev.{_HOMES[name]}"), name)


def __dir__():
    return sorted(set(globals()) | set(__all__))
