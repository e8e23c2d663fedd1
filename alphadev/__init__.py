"""alphadev: the agent (networks, mctx search, self-play, archive, replay, learner, training loop)
and the tools a kernel leaves the lab with (records, verify, bench, export, inspection).

The functions `alphadev.verify.verify` and `alphadev.bench.bench` stay in their modules (a
re-export would shadow the module of the same name)."""
from alphadev.config import Ablation, ConfigError, TrainConfig, load_config, load_run_config
from alphadev.export import header
from alphadev.learner import LearnerConfig
from alphadev.networks import NetConfig
from alphadev.results import Record, RecordError, load
from alphadev.rundir import RunDir
from alphadev.search import Search, SearchConfig
from alphadev.train import Trainer
from alphadev.verify import Verification

__all__ = ["Ablation", "ConfigError", "TrainConfig", "load_config", "load_run_config", "header",
           "LearnerConfig", "NetConfig", "Record", "RecordError", "load", "RunDir", "Search", "SearchConfig",
           "Trainer", "Verification"]
