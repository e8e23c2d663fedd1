"""Scheduling data from LLVM (isa/schedule.py and its data file)."""
import re
import shutil
import subprocess

import pytest

import games
import isa
from isa import schedule as sched


def test_every_game_vocabulary_form_has_data():
    skylake = sched.load("skylake")
    for name in games.names():
        for item in games.make(name).task.vocabulary:
            if isinstance(item, isa.Instruction):
                skylake.form(item)  # raises for a form without data
    assert skylake.dispatch_width > 0 and skylake.mispredict_penalty > 0


def test_forms_keep_what_the_schedule_depends_on():
    key = lambda text: sched.form_key(isa.parse(text)[0])
    assert key("cmovg r9d, r12d") == key("cmovg eax, ecx") == "cmovg eax, ecx"
    assert key("xor r9, r9") == "xor rax, rax" != key("xor r9, r10")  # a zero idiom
    assert key("ror rax, 1") != key("ror rax, 7") == key("ror rax, 23")  # ROR64r1 is another opcode
    assert key("mov dword ptr [rdi+12], esi") == key("mov dword ptr [rdi+4], eax")
    skylake = sched.load("skylake")
    assert skylake.form(isa.parse("xor eax, eax")[0]).latency == 0
    assert skylake.form(isa.parse("mov eax, dword ptr [rdi]")[0]).latency == 5


def test_dependencies():
    dep = lambda text: sched.dependencies(isa.parse(text)[0])
    cmov = dep("cmovg eax, ecx")
    assert cmov.reads == {0, 1} and cmov.writes == {0} and cmov.flags_read == {1, 2, 3} and not cmov.flags_written
    assert dep("xor eax, eax").reads == set()
    store = dep("mov dword ptr [rdi+4], esi")
    assert store.stores == {("rdi", None, 1, 4)} and not store.loads and store.reads == {6, 7}
    assert dep("cmp dword ptr [rdi], 3").loads == {("rdi", None, 1, 0)}
    assert dep("mul rcx").writes == {0, 2}


def test_unknown_cpu_is_a_one_line_error():
    with pytest.raises(ValueError, match="no scheduling data for mcpu 'nehalem'.*have: skylake"):
        sched.load("nehalem")


@pytest.mark.skipif(shutil.which("llvm-mca") is None, reason="llvm-mca is not installed")
def test_the_data_file_is_what_llvm_mca_says():
    skylake = sched.load("skylake")
    version = re.search(r"LLVM version \S+", subprocess.run(["llvm-mca", "--version"], capture_output=True,
                                                            text=True).stdout).group(0)
    if version != skylake.llvm:
        pytest.skip(f"the data file was extracted with {skylake.llvm}, this is {version}")
    sample = [isa.parse(text)[0] for text in ("cmovg eax, ecx", "mov dword ptr [rdi+4], eax", "mul rcx",
                                              "ror rax, 1", "xor eax, eax", "cmp dword ptr [rdi], 3")]
    sample.append(isa.Instruction("jl", (isa.Target(1),)))
    forms, meta = sched.extract(sample, "skylake")
    assert meta["dispatch_width"] == skylake.dispatch_width
    for key, fields in forms.items():
        assert sched.Form(**fields) == skylake.forms[key], key
