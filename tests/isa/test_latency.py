"""Latency models."""
import numpy as np
import pytest

import isa
import isa.schedule
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


def test_model_charges_the_executed_path_and_expected_mispredictions():
    skylake = isa.schedule.load("skylake")
    values = np.array([[1], [5], [7], [9]], np.int32)  # three of four inputs take the jump
    inputs = Inputs(np.zeros((4, 16), np.uint64), values.view(np.uint8))
    report = latency.model(BRANCHY, "skylake", inputs)
    # One misprediction in four calls: the fall-through is the minority.
    assert report.mispredict == pytest.approx(skylake.mispredict_penalty / 4)
    # Load (5), compare (1), jump (1); on the fall-through, three dependent nots on the load's
    # result finish at 8.
    taken, through = 7.0, 8.0
    assert report.critical_path == pytest.approx((3 * taken + through) / 4)
    assert report.cycles == pytest.approx(report.critical_path + report.mispredict)


def test_model_needs_inputs_for_a_branchy_program():
    with pytest.raises(ValueError, match="branchy program's cycles need inputs"):
        latency.model_cycles(BRANCHY)


def test_model_throughput_bound_counts_port_pressure():
    # Eight independent compares and cmovs: cmovs share two ports, so four cycles at least.
    text = "".join(f"cmovg {r}, eax\n" for r in ("ecx", "edx", "esi", "r8d", "r9d", "r10d", "r11d", "ebx"))
    report = latency.model(isa.parse("cmp eax, ecx\n" + text))
    assert report.throughput == pytest.approx(4.0)
