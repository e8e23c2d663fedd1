"""Latency models."""
import numpy as np
import pytest

import isa
from isa import Inputs, latency

BRANCHY = isa.parse("""
mov eax, dword ptr [rdi]
cmp eax, 2
jge .end
not eax
not eax
not eax
.end:
""")


def test_instruction_count_and_executed():
    assert latency.instruction_count(BRANCHY) == 6
    values = np.array([[1], [5]], np.int32)
    inputs = Inputs(np.zeros((2, 16), np.uint64), values.view(np.uint8))
    assert latency.instructions_executed(BRANCHY, inputs).tolist() == [6, 3]


def test_mca_reports_cycles_for_a_cpu_model():
    report = latency.mca(BRANCHY, "skylake")
    assert report.cycles > 0 and report.uops >= 6 and report.mcpu == "skylake"
    longer = isa.parse(isa.to_text(BRANCHY).replace(".end:", "imul eax, eax\nimul eax, eax\n.end:"))
    assert latency.cycles(longer) > latency.cycles(BRANCHY)  # two dependent multiplies cost cycles
    assert latency.mca(BRANCHY, "znver3").mcpu == "znver3"


def test_mca_bad_cpu_is_a_clear_error():
    with pytest.raises(ValueError, match="not a recognized processor"):
        latency.mca(BRANCHY, "no-such-cpu")
