"""bench: the harness's timing loops, its two modes and unit, the bounds each figure is checked
against, and AlphaDev-format kernels read, verified and timed beside the references."""
import dataclasses
import re
import subprocess
from pathlib import Path

import pytest

import games
import isa
from alphadev import bench as bench_module
from alphadev import cli
from alphadev.bench import Kernel, bench, build
from alphadev.bounds import Bounds, bounds
from alphadev.results import Record
from alphadev.verify import verify
from alphadev.inline_asm import InlineKernel, read_kernels, task_kernels, to_intel, to_program

KERNELS = Path(__file__).parent / "inline_asm_kernels.cc"
SORT3 = games.task("sort3").references[0].program


def _function(disassembly: str, name: str) -> str:
    match = re.search(rf"^[0-9a-f]+ <{name}>:\n(.*?)(?:\n\n|\Z)", disassembly, re.S | re.M)
    assert match, f"{name} is not in the harness"
    return match.group(1)


@pytest.mark.parametrize("game", ["sort4", "hash9to16"])
def test_timing_loops_hold_no_vector_moves(tmp_path, game):
    """The copies around a kernel are scalar: a vector store the kernel's 4-byte loads read
    back would stall store forwarding and time the harness, not the kernel."""
    task = games.task(game)
    kernels = [Kernel(r.label, "reference", r.program) for r in task.references]
    kernels += [Kernel(c.label, "c", c_body=c.body) for c in task.c_references]
    exe = build(tmp_path, task, kernels, pool=256, words=4)
    disassembly = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(exe)], capture_output=True,
                                 text=True, check=True).stdout
    for k, kernel in [("empty", None), *enumerate(task.references)]:
        for mode in ("throughput", "latency"):
            loop = _function(disassembly, f"pass_{mode}_{k}")
            assert not re.search(r"%[xyz]mm", loop), f"{mode} loop of {k}:\n{loop}"
            assert set(re.findall(r"\tcall\s+\w+ <([^>]+)>", loop)) <= {"read@plt"}  # the counter's read
            if kernel is not None:  # the kernel is inlined into its loop, not called
                mnemonics = {line.split("\t")[1].split()[0] for line in loop.splitlines() if "\t" in line}
                assert {ins.mnemonic for ins in kernel.program} <= mnemonics, loop


def test_critical_path_and_micro_ops_of_the_sort3_network():
    found = bounds(SORT3, mcpu="skylake")
    assert found.uops == 18 and found.throughput == pytest.approx(18 / found.dispatch_width)
    assert found.latency == 6  # three comparators in a row, each a cmp and a cmov, loads free
    padded = isa.Program(SORT3.instructions[:3] + isa.parse("imul eax, eax\n" * 10).instructions
                         + SORT3.instructions[3:])
    assert bounds(padded).latency == 6 + 10 * 3  # skylake's imul: 3 cycles
    assert bounds(games.task("varsort3").references[0].program) is None  # branchy: no bound holds


def test_both_modes_in_cycles_with_the_units_ratio():
    report = bench("sort3", pool=512, reps=5, counter=False)
    assert report.counter == "tsc" and report.counter_note == "not asked for"
    assert report.bounds_note == "bounds: llvm-mca -mcpu=skylake, straight-line kernels"
    assert report.ticks_per_cycle > 0 and 0.8 < report.add_cycles < 1.25
    auto = bench("sort3", pool=512, reps=5)  # the cycle counter where this machine has one
    assert auto.counter in ("cycles", "tsc") and 0.8 < auto.add_cycles < 1.25
    assert (auto.ticks_per_cycle is None) == (auto.counter == "cycles")
    for mode in ("throughput", "latency"):
        human, c = report.modes[mode]
        assert human.bound is not None and c.bound is None and human.ratio == 1
        assert report.overhead[mode] > 0


def test_a_figure_below_its_bound_is_a_loud_warning(monkeypatch):
    monkeypatch.setattr(bench_module, "kernel_bounds", lambda *a, **k: Bounds(1e6, 10**6, 18, 6, "skylake"))
    report = bench("sort3", pool=256, reps=5)
    assert len(report.warnings) == 2  # the reference in each mode (the C baseline has no bound)
    for line, mode in zip(report.warnings, ("throughput", "latency")):
        assert line.startswith("!!! WARNING: human reference (cmov network): " + mode)
        assert "cannot be trusted" in line
    assert bench_module.report_text(report).endswith(report.warnings[-1])


def test_att_kernels_convert_to_the_same_programs_as_our_references():
    programs, problems = task_kernels(KERNELS, "sort3")
    assert [name for name, _ in programs] == ["Sort3Network", "Sort3Broken"]
    assert programs[0][1] == SORT3
    assert problems == ["Sort3Exchange: 'xchg %%eax, %%ecx': instruction 'xchg' is outside the supported subset"]
    (name, varsort), = task_kernels(KERNELS, "varsort3")[0]
    assert varsort == games.task("varsort3").references[0].program  # cmpl $imm, (%0); jl 0f / 1f
    with pytest.raises(ValueError, match="no kernel for sort4 .found Sort3Network, Sort3Broken"):
        task_kernels(KERNELS, "sort4")


def test_att_operands_suffixes_and_local_labels():
    kernel = InlineKernel("K", ("buffer",), (
        "movq -0x8(%0,%%rsi,8), %%rax", "imul $3, %%eax, %%ecx", "addl $1, 4(%0)", "cmovl %%ecx, %%eax",
        "jmp 1f", "1:", "jge 1f", "lea 0x10(%0), %%rdx", "1:"), ("buffer",))
    assert to_intel(kernel, {"0": "rdi"}) == [
        "mov rax, qword ptr [rdi+rsi*8-0x8]", "imul ecx, eax, 3", "add dword ptr [rdi+4], 1", "cmovl eax, ecx",
        "jmp .L1_5", ".L1_5:", "jge .L1_8", "lea rdx, [rdi+0x10]", ".L1_8:"]
    program = to_program(kernel, games.task("sort3").signature)
    assert len(program) == 7 and program[4].target == 5
    backward = InlineKernel("Back", ("buffer",), ("1:", "cmp %%eax, %%ecx", "jl 1b"), ("buffer",))
    with pytest.raises(ValueError, match=r"^Back: 'jl 1b': jump back to '.L1_0'"):
        to_program(backward, games.task("sort3").signature)
    two = read_kernels('void Two(int* a, int n) { asm volatile("mov (%0), %%eax\\n" : "+r"(a) : "r"(n)); }')
    assert two[0].operands == ("a", "n") and two[0].lines == ("mov (%0), %%eax",)
    with pytest.raises(ValueError, match="Two: takes 2 arguments, the task's kernels 1"):
        to_program(two[0], games.task("sort3").signature)


def test_bench_alphadev_verifies_converts_and_times_beside_the_references_and_records(tmp_path, capsys):
    records = []
    for run in ("a", "b"):  # two records of one source: told apart by their directories
        (tmp_path / run).mkdir()
        record = Record.of("sort3", SORT3, source="alphadev train (exact)")
        record.verification = dataclasses.asdict(verify(SORT3, "sort3", n_random=500))
        records.append(str(record.save(tmp_path / run / "best.json")))
    argv = ["bench", "sort3", *records, "--alphadev", str(KERNELS), "--reps", "5", "--min-random", "500"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "skipped Sort3Exchange: 'xchg %%eax, %%ecx': instruction 'xchg' is outside the supported subset" in out
    assert "skipped Sort3Broken: fails verification: unicorn: input" in out
    for mode in ("throughput", "latency"):
        table = out.split(f"\n{mode}: ")[1].split("\n\n")[0].splitlines()
        assert table[1].split()[-3:] == ["ref", "vs", "AlphaDev"]
        names = [row[:46].strip() for row in table[2:]]
        assert names == ["human reference (cmov network)", "Sort3Network (18)", "a/best.json (18)", "b/best.json (18)",
                         "C network (gcc -O3)"]
        for row in table[2:]:  # every kernel's ratio to the first reference and to AlphaDev's
            assert re.fullmatch(r".* \d+\.\d\dx +\d+\.\d\dx", row), row
        assert table[3].split()[-1] == "1.00x"  # AlphaDev's own ratio to itself


def test_bench_alphadev_problems_are_one_line(tmp_path, capsys):
    missing = tmp_path / "missing.cc"
    assert cli.main(["bench", "sort3", "--alphadev", str(missing)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and str(missing) in err
    assert cli.main(["bench", "sort4", "--alphadev", str(KERNELS)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and f"{KERNELS}: no kernel for sort4" in err
    assert cli.main(["bench", "sort3", "sort4"]) == 2
    assert "two games given: sort3 and sort4" in capsys.readouterr().err
    assert cli.main(["bench", "sort3", "--mcpu", "pentium9"]) == 2
    assert capsys.readouterr().err.startswith("alphadev bench: --mcpu pentium9: llvm-mca failed")
