"""Provenance: the checkout's commit and dirty flag, library versions, CPU and device."""
import subprocess

from alphadev.provenance import git_state, provenance


def test_provenance_names_the_commit_libraries_and_machine():
    p = provenance()
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert p["commit"] == head and isinstance(p["dirty"], bool)
    assert {"jax", "jaxlib", "flax", "mctx"} <= set(p["versions"])
    assert p["cpu"] and p["device"]  # e.g. "cpu", or the accelerator's kind


def test_dirty_follows_tracked_changes_and_outside_a_checkout_is_none(tmp_path):
    assert git_state(tmp_path) == (None, None)
    run = lambda *a: subprocess.run(["git", "-C", str(tmp_path), *a], check=True, capture_output=True)
    run("init", "-q")
    (tmp_path / "f").write_text("a")
    run("add", "f")
    run("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    commit, dirty = git_state(tmp_path)
    assert len(commit) == 40 and dirty is False
    (tmp_path / "f").write_text("b")
    assert git_state(tmp_path) == (commit, True)


def test_new_records_carry_provenance_and_it_survives_a_round_trip(tmp_path):
    import json

    import pytest

    from alphadev.results import Record, RecordError, load
    from games.sort import sorting_network
    record = Record.of("sort3", sorting_network(3))
    assert record.provenance == provenance() and record.origin().startswith("commit ")
    back = load(record.save(tmp_path / "r.json"))
    assert back.provenance == record.provenance
    data = json.loads((tmp_path / "r.json").read_text())
    del data["provenance"]  # a record from before provenance: loads, and says so
    (tmp_path / "old.json").write_text(json.dumps(data))
    assert load(tmp_path / "old.json").origin() == "provenance not recorded"
    data["provenance"] = 5
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(RecordError, match="provenance"):
        load(tmp_path / "bad.json")
