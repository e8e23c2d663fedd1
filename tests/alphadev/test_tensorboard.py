"""TensorBoard event files: what is written can be read back, grouped by panel, and a resumed
session purges what an interrupted one wrote past its checkpoint."""
import math
import struct

import pytest

pytest.importorskip("tensorboardX")
from tensorboardX.proto.event_pb2 import Event  # noqa: E402

from alphadev.tensorboard import Board  # noqa: E402


def read_events(directory):
    """Every event of every event file under `directory`, in file order (TFRecord framing:
    length, its CRC, the Event proto, its CRC)."""
    events = []
    for file in sorted(directory.glob("events.out.tfevents.*")):
        data = file.read_bytes()
        i = 0
        while i < len(data):
            (length,) = struct.unpack("<Q", data[i:i + 8])
            event = Event()
            event.ParseFromString(data[i + 12:i + 12 + length])
            events.append(event)
            i += 12 + length + 4
    return events


def scalars(directory):
    return [(e.step, v.tag, v.simple_value) for e in read_events(directory) for v in e.summary.value]


def test_scalars_are_grouped_and_undefined_ones_left_out(tmp_path):
    board = Board(tmp_path)
    board.scalars(1, {"loss": 2.5, "best_length": 12, "prior_agrees": 0.25, "greedy_correct": True,
                      "correctness_value_rank": math.nan, "note": "text"})
    board.close()
    assert sorted(scalars(tmp_path)) == [(1, "greedy/greedy_correct", 1.0), (1, "learner/loss", 2.5),
                                         (1, "network/prior_agrees", 0.25), (1, "selfplay/best_length", 12.0)]


def test_a_resumed_session_purges_steps_past_its_checkpoint(tmp_path):
    first = Board(tmp_path)
    for step in (1, 2, 3):
        first.scalars(step, {"loss": float(step)})
    first.close()
    second = Board(tmp_path, first_step=3)  # resumed from the checkpoint of iteration 2
    second.scalars(3, {"loss": 30.0})
    second.close()
    purges = [e for e in read_events(tmp_path) if e.session_log.status == e.session_log.START]
    assert [e.step for e in purges] == [3]  # TensorBoard drops earlier events at step >= 3
    assert scalars(tmp_path)[-1] == (3, "learner/loss", 30.0)
