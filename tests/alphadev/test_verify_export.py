"""verify, export (compiled and run), show and bench."""
import dataclasses
import json
import subprocess

import numpy as np
import pytest

import games
import isa
from alphadev import cli
from alphadev.export import header
from alphadev.results import Record, RecordError, load
from alphadev.verify import random_sort_values, verify
from games.references import references

RANDOM = 2000  # the CLI default is 100,000; tests keep to a fast slice of the same inputs


def _verified(name):
    game, program = references()[name]
    record = Record.of(game, program, source="reference")
    record.verification = dataclasses.asdict(verify(program, game, n_random=RANDOM))
    return record


@pytest.mark.parametrize("name", ["sort3_network", "varsort3_branchy", "hash9to16_abseil2023"])
def test_references_verify_on_both_backends(name):
    game, program = references()[name]
    result = verify(program, game, n_random=RANDOM)
    assert result.passed and result.first_failure is None
    assert result.inputs >= RANDOM + len(games.make(game).task.inputs) * (game != "varsort3")


def test_random_inputs_include_extremes_zero_and_duplicates():
    values = random_sort_values(5000, 3, np.random.default_rng(0))
    assert (values == -2**31).any() and (values == 2**31 - 1).any() and (values == 0).any()
    assert (values[:, 0] == values[:, 1]).mean() > 0.05


def test_a_wrong_program_fails_with_the_first_failing_input():
    program = isa.parse(isa.format(references()["sort3_network"][1]).replace("cmovg eax, ecx", "cmovl eax, ecx", 1))
    result = verify(program, "sort3", n_random=RANDOM)
    assert not result.passed and "input" in result.first_failure and "expected" in result.first_failure


def test_cli_verify_exit_codes_and_record(tmp_path, capsys):
    good = tmp_path / "good.s"
    good.write_text(isa.format(references()["sort3_network"][1]))
    out = tmp_path / "rec.json"
    assert cli.main(["verify", str(good), "--game", "sort3", "--out", str(out), "--random", "500"]) == 0
    record = load(out)
    assert record.verified and record.verification["random_inputs"] == 500 and record.latency["cycles"] > 0
    bad = tmp_path / "bad.s"
    bad.write_text(isa.format(references()["sort3_network"][1]).replace("mov dword ptr [rdi+8], edx", ""))
    assert cli.main(["verify", str(bad), "--game", "sort3", "--random", "100"]) == 1
    assert "first failure: " in capsys.readouterr().out
    assert cli.main(["verify", str(tmp_path / "missing.s"), "--game", "sort3"]) == 2
    assert cli.main(["verify", str(good), "--game", "nosuch"]) == 2
    assert "unknown game" in capsys.readouterr().err


def test_bad_record_files_are_one_line_errors(tmp_path):
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(RecordError, match="not valid JSON"):
        load(tmp_path / "x.json")
    (tmp_path / "y.json").write_text(json.dumps({"game": "sort3"}))
    with pytest.raises(RecordError, match="missing text"):
        load(tmp_path / "y.json")


def test_export_refuses_an_unverified_record():
    game, program = references()["sort3_network"]
    with pytest.raises(RecordError, match="unverified"):
        header(Record.of(game, program))


SORT_DRIVER = r"""
#include "kernel.h"
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
int main(void) {
    int n_vectors, width;
    if (scanf("%d %d", &n_vectors, &width) != 2) return 3;
    void *mem = mmap(0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memcpy(mem, NAME_code, sizeof NAME_code);
    void (*raw)(int32_t *) = (void (*)(int32_t *))mem;
    for (int v = 0; v < n_vectors; v++) {
        int32_t in[16], want[16], a[16], b[16];
        for (int k = 0; k < width; k++) if (scanf("%d", &in[k]) != 1) return 3;
        for (int k = 0; k < width; k++) if (scanf("%d", &want[k]) != 1) return 3;
        memcpy(a, in, sizeof in); memcpy(b, in, sizeof in);
        NAME(a); raw(b);
        if (memcmp(a, want, width * 4) || memcmp(b, want, width * 4)) { printf("FAIL %d\n", v); return 1; }
    }
    printf("ok %d\n", n_vectors);
    return 0;
}
"""

HASH_DRIVER = r"""
#include "kernel.h"
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
int main(void) {
    int n;
    if (scanf("%d", &n) != 1) return 3;
    void *mem = mmap(0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memcpy(mem, NAME_code, sizeof NAME_code);
    uint64_t (*raw)(const uint8_t *, size_t, uint64_t) = (uint64_t (*)(const uint8_t *, size_t, uint64_t))mem;
    for (int v = 0; v < n; v++) {
        unsigned long long len, state, want; uint8_t s[16];
        if (scanf("%llu %llu %llu", &len, &state, &want) != 3) return 3;
        for (unsigned k = 0; k < len; k++) { unsigned x; if (scanf("%u", &x) != 1) return 3; s[k] = (uint8_t)x; }
        if (NAME(s, len, state) != want || raw(s, len, state) != want) { printf("FAIL %d\n", v); return 1; }
    }
    printf("ok %d\n", n);
    return 0;
}
"""


def _cases(task, rng):
    if task.name.startswith("hash"):
        from games.hash import abseil_2023, corpus
        strings, states, _ = corpus()
        strings += [rng.bytes(int(rng.integers(9, 17))) for _ in range(500)]
        states = list(states) + [int(x) for x in rng.integers(0, 2**63, 500)]
        lines = [f"{len(s)} {int(st)} {abseil_2023(s, int(st))} " + " ".join(map(str, s)) for s, st in zip(strings, states, strict=True)]
        return f"{len(lines)}\n" + "\n".join(lines) + "\n"
    values = task.inputs.memory.view(np.int32)
    extra = random_sort_values(500, values.shape[1], rng)
    if task.variable:
        extra[:, 0] = task.n  # the full count; the task's own inputs cover the shorter ones
    values = np.concatenate([values, extra])
    counts = values[:, 0] if task.variable else np.full(len(values), task.n)
    want = task.expected(values, counts)
    lines = [" ".join(map(str, v)) + " " + " ".join(map(str, w)) for v, w in zip(values.tolist(), want.tolist(), strict=True)]
    return f"{len(values)} {values.shape[1]}\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize("name", ["sort3_network", "varsort3_branchy", "hash9to16_abseil2023"])
@pytest.mark.parametrize("opt", ["-O0", "-O2", "-O3"])
def test_exported_header_compiles_and_sorts_or_hashes(tmp_path, name, opt):
    record = _verified(name)
    assert record.verified
    fn = f"alphadev_{record.game}"
    (tmp_path / "kernel.h").write_text(header(record))
    driver = HASH_DRIVER if record.game.startswith("hash") else SORT_DRIVER
    (tmp_path / "driver.c").write_text(driver.replace("NAME", fn))
    exe = tmp_path / "driver"
    subprocess.run(["gcc", opt, "-Wall", "-Werror", "-o", str(exe), str(tmp_path / "driver.c")],
                   check=True, capture_output=True, text=True)
    task = games.make(record.game).task
    run = subprocess.run([str(exe)], input=_cases(task, np.random.default_rng(1)), capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.startswith("ok"), run.stdout + run.stderr


def test_show_prints_listing_and_figures(tmp_path, capsys):
    path = _verified("sort3_network").save(tmp_path / "r.json")
    assert cli.main(["show", str(path)]) == 0
    out = capsys.readouterr().out
    assert "cmovg eax, ecx" in out and "llvm-mca" in out and "unicorn passed" in out and "8b 07" in out


def _padded(program, chain=30):
    """`program` made slower but still correct: after the loads, a chain of `chain` dependent
    imuls on a scratch register, zeroed and added into the first value, so that every output
    (and so the next call's input) waits for the chain; out-of-order execution cannot hide it."""
    first_compute = next(k for k, ins in enumerate(program) if ins.memory is None)
    pad = isa.parse("mov r8d, eax\n" + "imul r8d, r8d\n" * chain + "and r8d, 0\nadd eax, r8d")
    return isa.Program(program.instructions[:first_compute] + pad.instructions + program.instructions[first_compute:])


def test_bench_times_reference_c_and_records_side_by_side():
    from alphadev.bench import bench
    game, program = references()["sort3_network"]
    slow = _padded(program)
    assert games.make("sort3").task.score(slow, "unicorn", cycles=False).correct
    rows = bench("sort3", [("same program", program), ("padded", slow)], pool=256, reps=5)
    assert [r.name for r in rows] == ["human reference (cmov network)", "same program", "padded", "C network (gcc -O3)"]
    assert [r.length for r in rows] == [18, 18, 18 + 33, None]
    for r in rows:
        assert np.isfinite(r.median) and r.median > 0, r
    reference, same, padded, _ = rows
    # 30 dependent imuls take at least 90 cycles on any x86-64 (measured on the 2-core CI machine:
    # about 58 ticks a call, the network about 1 over the empty kernel).
    assert padded.median > 2 * reference.median and padded.ratio > 2, rows
    assert padded.median > 2 * same.median, rows


def test_bench_refuses_records_of_another_game(tmp_path, capsys):
    game, program = references()["sort3_network"]
    sort3 = Record.of(game, program, source="reference").save(tmp_path / "sort3.json")
    assert cli.main(["bench", str(sort3), "--game", "sort4"]) == 2
    assert "a record for sort3, not sort4" in capsys.readouterr().err
    sort2 = Record.of("sort2", references()["sort2_network"][1]).save(tmp_path / "sort2.json")
    with pytest.raises(SystemExit, match="records are for different games"):
        cli.main(["bench", str(sort3), str(sort2)])
