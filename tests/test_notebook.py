"""The inspection notebook runs top to bottom on the committed agent fixture, on a baseline
search's run directory and on a run that has recorded nothing yet."""
import os
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _execute(run: Path) -> tuple[str, int]:
    """(the text the notebook printed, how many pictures it drew) for run directory `run`."""
    nb = nbformat.read(NOTEBOOKS / "inspect_programs.ipynb", as_version=4)
    os.environ["ALPHADEV_RUN"] = str(run)
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    finally:
        del os.environ["ALPHADEV_RUN"]
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    text = "".join(o.get("text", "") for o in outputs)
    return text, sum("image/png" in o.get("data", {}) for o in outputs)


def test_on_the_agent_fixture_it_shows_the_program_the_policy_and_the_diagnostics():
    text, images = _execute(NOTEBOOKS / "fixture" / "agent")
    assert "records in" in text and "cycles" in text and "prior of the network at iteration" in text
    assert "the prior's favourite at" in text
    assert images == 4  # dataflow, latency, curves, diagnostics


def test_on_a_baseline_search_it_says_there_is_no_policy():
    text, images = _execute(NOTEBOOKS / "fixture" / "run")
    assert "no checkpoints here" in text and "no network diagnostics" in text and images == 3


def test_on_a_run_with_no_record_it_still_shows_the_curves(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(NOTEBOOKS / "fixture" / "run" / "metrics.csv", run)
    text, images = _execute(run)
    assert "no program recorded yet" in text and images == 2  # latency of the references, curves


@pytest.mark.parametrize("name", ["inspect_programs.ipynb"])
def test_the_notebook_is_committed_with_its_outputs(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("outputs") for c in code), "render it: see notebooks/README.md"
