"""Records on disk are trusted only as far as their verification's digest and types allow.

A record verified honestly (through `verify`) is edited the ways issue #19 found: its program
(one cmovg turned into cmovl), its verification (a failed backend flipped, strings for
booleans), or re-verified on too few inputs; export, bench and show must each refuse in one
line. Malformed files are one line and exit code 2 from every command that reads records.
"""
import dataclasses
import json
import re

import pytest

import isa
from alphadev import cli
from alphadev.bench import BenchError, bench
from alphadev.export import header
from alphadev.results import MIN_RANDOM_INPUTS, Record, RecordError, load
from alphadev.verify import verify
from games.sort import sorting_network

RANDOM = 300  # verification inputs here; the tests pass it as the minimum where they mean to pass
SORT3 = sorting_network(3)


def _verified(program=SORT3, game="sort3") -> Record:
    record = Record.of(game, program, source="reference")
    record.verification = dataclasses.asdict(verify(program, game, n_random=RANDOM))
    return record


def _edited(path, **fields):
    data = json.loads(path.read_text())
    for key, value in fields.items():
        if key.startswith("v_"):
            data["verification"][key[2:]] = value
        else:
            data[key] = value
    path.write_text(json.dumps(data))
    return path


def _one_line_error(capsys, argv) -> str:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    return err


def test_an_honest_record_passes_at_its_minimum_and_not_below_the_default(tmp_path, capsys):
    record = _verified()
    assert record.untrusted(min_random=RANDOM) is None
    assert "below the minimum of 100,000" in record.untrusted() and not record.verified
    path = record.save(tmp_path / "r.json")
    assert cli.main(["export", str(path), "-o", str(tmp_path / "k.h"), "--min-random", str(RANDOM)]) == 0
    assert f"verification digest: {record.verification['digest']}" in (tmp_path / "k.h").read_text()
    err = _one_line_error(capsys, ["export", str(path), "-o", str(tmp_path / "k.h")])
    assert "below the minimum of 100,000" in err and "--random 100000" in err


def test_an_edited_program_is_refused_by_export_bench_and_show(tmp_path, capsys):
    path = _verified().save(tmp_path / "r.json")
    text = json.loads(path.read_text())["text"]
    _edited(path, text=text.replace("cmovg eax, ecx", "cmovl eax, ecx", 1))
    changed = "the program or game changed since verification: re-run `alphadev verify`"
    err = _one_line_error(capsys, ["export", str(path), "-o", str(tmp_path / "k.h"), "--min-random", str(RANDOM)])
    assert changed in err and not (tmp_path / "k.h").exists()
    assert changed in _one_line_error(capsys, ["bench", str(path), "--min-random", str(RANDOM)])
    assert changed in _one_line_error(capsys, ["show", str(path), "--min-random", str(RANDOM)])


def test_renamed_labels_keep_the_digest_a_changed_game_does_not():
    from games.sort import VARSORT3_BRANCHY
    record = _verified(VARSORT3_BRANCHY, "varsort3")
    names = VARSORT3_BRANCHY.label_names().values()
    renamed = record.text
    for k, name in enumerate(names):
        renamed = renamed.replace(name, f".my{k}")
    assert renamed != record.text
    assert dataclasses.replace(record, text=renamed).untrusted(min_random=RANDOM) is None
    moved = dataclasses.replace(_verified(sorting_network(2), "sort2"), game="sort3")
    assert "changed since verification" in moved.untrusted(min_random=0)


def test_a_flipped_backend_or_count_breaks_the_digest(tmp_path, capsys):
    wrong = isa.parse(isa.to_text(SORT3).replace("cmovg eax, ecx", "cmovl eax, ecx", 1))
    failed = _verified(wrong)
    assert not failed.verification["unicorn"] and "verification failed on unicorn and native" in failed.untrusted()
    path = _edited(failed.save(tmp_path / "f.json"), v_unicorn=True, v_native=True, v_first_failure=None)
    err = _one_line_error(capsys, ["export", str(path), "-o", str(tmp_path / "k.h"), "--min-random", "0"])
    assert "changed since verification" in err
    path = _edited(_verified().save(tmp_path / "g.json"), v_random_inputs=MIN_RANDOM_INPUTS)
    assert "changed since verification" in _one_line_error(capsys, ["export", str(path), "-o", str(tmp_path / "k.h")])


def test_boolean_strings_are_refused_on_load_and_in_memory(tmp_path, capsys):
    path = _edited(_verified().save(tmp_path / "r.json"), v_unicorn="false", v_native="false")
    err = _one_line_error(capsys, ["export", str(path), "-o", str(tmp_path / "k.h"), "--min-random", "0"])
    assert 'verification.unicorn must be true or false, not "false"' in err
    record = _verified()
    record.verification["native"] = "true"
    assert "verification.native must be true or false" in record.untrusted(min_random=0)


def test_an_older_record_without_a_digest_is_not_verified(tmp_path):
    record = _verified()
    del record.verification["digest"], record.verification["seed"]
    assert "no digest" in load(record.save(tmp_path / "old.json")).untrusted(min_random=0)


def test_a_reverify_on_the_task_inputs_alone_downgrades_the_record(tmp_path, capsys):
    path = _verified().save(tmp_path / "r.json")
    assert cli.main(["verify", str(path), "--random", "0"]) == 0
    out = capsys.readouterr().out
    assert "note: export and bench will refuse it: verified on 0 random inputs" in out
    assert load(path).verification["inputs"] == 13
    err = _one_line_error(capsys, ["export", str(path), "-o", str(tmp_path / "k.h")])
    assert "verified on 0 random inputs, below the minimum of 100,000" in err


MALFORMED = {
    "null": None,
    "list": [],
    "text 5": {"game": "sort3", "text": 5},
    "game 5": {"game": 5, "text": "mov eax, 1\n"},
    "length x": {"game": "sort3", "text": "mov eax, 1\n", "length": "x"},
    "length -1": {"game": "sort3", "text": "mov eax, 1\n", "length": -1},
    "latency list": {"game": "sort3", "text": "mov eax, 1\n", "latency": []},
    "seed string": {"game": "sort3", "text": "mov eax, 1\n", "seed": "0"},
    "verification list": {"game": "sort3", "text": "mov eax, 1\n", "verification": [True, True]},
    "verification short": {"game": "sort3", "text": "mov eax, 1\n", "verification": {"unicorn": True}},
    "verification false": {"game": "sort3", "text": "mov eax, 1\n", "verification": {
        "unicorn": "false", "native": True, "inputs": 1, "random_inputs": 0, "when": "now"}},
    "inputs float": {"game": "sort3", "text": "mov eax, 1\n", "verification": {
        "unicorn": True, "native": True, "inputs": 1.5, "random_inputs": 0, "when": "now"}},
}
EXPECTED = {"null": "not a record (a JSON object), but null", "list": "not a record (a JSON object), but []",
            "text 5": "text must be a string, not 5", "game 5": "game must be a string, not 5",
            "length x": 'length must be an integer, not "x"', "length -1": "length must not be negative, not -1",
            "latency list": "latency must be an object, not []",
            "seed string": 'seed must be an integer or null, not "0"',
            "verification list": "verification must be an object or null, not [true, true]",
            "verification short": "verification lacks native, inputs, random_inputs, when",
            "verification false": 'verification.unicorn must be true or false, not "false"',
            "inputs float": "verification.inputs must be an integer, not 1.5"}


@pytest.mark.parametrize("command", ["show", "verify", "export", "bench"])
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_records_are_one_line_and_exit_code_2(tmp_path, capsys, command, case):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(MALFORMED[case]))
    argv = [command, str(path)] + (["-o", str(tmp_path / "k.h")] if command == "export" else [])
    err = _one_line_error(capsys, argv)
    assert err == f"alphadev {command}: {path}: {EXPECTED[case]}\n"


def test_verify_checks_out_before_verifying_and_never_overwrites_the_program(tmp_path, capsys):
    program = tmp_path / "prog.s"
    program.write_text(isa.to_text(SORT3))
    before = program.read_text()
    cases = {str(program): "that is the program being verified; a record is written to a .json file",
             str(tmp_path / "rec.txt"): "a record is written to a .json file",
             str(tmp_path / "missing" / "rec.json"): "no such directory",
             str(program / "rec.json"): "no such directory",
             str(tmp_path): "a record is written to a .json file"}
    for out, problem in cases.items():
        err = _one_line_error(capsys, ["verify", str(program), "--game", "sort3", "--out", out])
        assert problem in err and out in err, err
    assert program.read_text() == before and not (tmp_path / "missing").exists()
    assert "verifying" not in capsys.readouterr().out


def test_bench_refuses_unverified_records_and_too_few_reps(tmp_path, capsys):
    plain = Record.of("sort3", SORT3).save(tmp_path / "plain.json")
    err = _one_line_error(capsys, ["bench", str(plain)])
    assert f"{plain}: refusing to time it: not verified" in err
    assert "--reps 3: at least 5 passes" in _one_line_error(capsys, ["bench", "--game", "sort3", "--reps", "3"])
    with pytest.raises(ValueError, match="at least 5"):
        bench("sort3", reps=3)


def test_bench_times_a_trusted_record_with_positive_figures(tmp_path, capsys):
    path = _verified().save(tmp_path / "r.json")
    assert cli.main(["bench", str(path), "--reps", "5", "--min-random", str(RANDOM)]) == 0
    out = capsys.readouterr().out
    tables = [block.splitlines()[2:] for block in out.split("\n\n")[1:]]
    assert len(tables) == 2 and "throughput" in out and "latency" in out
    for rows in tables:
        assert [row.split("  ")[0] for row in rows] == ["human reference (cmov network)", "reference (18)",
                                                        "C network (gcc -O3)"]
        for row in rows:
            fields = row.split()
            spread = next(f for f in fields if re.fullmatch(r"[\d.]+-[\d.]+", f))
            p10, p90 = spread.split("-")
            assert 0 < float(p10) <= float(fields[fields.index(spread) - 1]) <= float(p90), row


def test_a_faulting_kernel_is_one_line_not_a_dead_harness():
    wild = isa.parse("mov eax, 0\nmov eax, dword ptr [rax]\nmov dword ptr [rdi], eax")
    with pytest.raises(BenchError, match="died of SIGSEGV: a kernel faulted"):
        bench("sort3", [("wild", wild)], pool=64, reps=5)


@pytest.mark.parametrize("name, problem", [("int", "C or C++ keyword"), ("return", "C or C++ keyword"),
                                           ("class", "C or C++ keyword"), ("uint64_t", "standard type"),
                                           ("9lives", "not a C identifier"), ("sört", "not a C identifier")])
def test_export_name_must_be_a_free_c_identifier(tmp_path, capsys, name, problem):
    path = _verified().save(tmp_path / "r.json")
    err = _one_line_error(capsys, ["export", str(path), "-o", str(tmp_path / "k.h"), "--name", name,
                                   "--min-random", str(RANDOM)])
    assert f"--name {name!r}" in err and problem in err


def test_record_strings_cannot_end_the_header_comment():
    record = _verified()
    record.source = "x */ int injected; /* y"
    text = header(record, min_random=RANDOM)
    assert "int injected" in text and text.index("*/") > text.index("do not compile this header with -masm=intel")


@pytest.mark.parametrize("text, message", [
    ("a:\nmov eax, 1\njmp a\n", "line 3: 'jmp a': jump back to 'a': jumps must go forward"),
    ("mov eax, 1\nmov al, 5\n", "line 2: 'mov al, 5': 'al': 8- and 16-bit registers are outside the subset"),
    ("\n\nmov eax, foo\n", "line 3: 'mov eax, foo': 'foo': expected a 32- or 64-bit register, a memory operand"),
])
def test_parse_errors_name_the_file_line_and_token(tmp_path, capsys, text, message):
    program = tmp_path / "p.s"
    program.write_text(text)
    assert _one_line_error(capsys, ["show", str(program), "--game", "sort3"]).startswith(
        f"alphadev show: {program}: {message}")
    record = tmp_path / "p.json"
    record.write_text(json.dumps({"game": "sort3", "text": text}))
    assert f"{record}: text {message}" in _one_line_error(capsys, ["show", str(record)])


def test_missing_tools_are_one_line(tmp_path, capsys, monkeypatch):
    from isa import latency, native
    native.harness()  # built (or found) while gcc is on the PATH: verify still runs natively below
    path = _verified().save(tmp_path / "r.json")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    latency._mca_binary.cache_clear()
    latency.mca.cache_clear()
    try:
        assert cli.main(["show", str(path), "--min-random", str(RANDOM)]) == 0
        assert "cycles not measured: llvm-mca not found: install LLVM" in capsys.readouterr().out
        assert cli.main(["verify", str(path), "--random", str(RANDOM)]) == 0
        assert "cycles not measured: llvm-mca not found" in capsys.readouterr().out
        assert load(path).latency["cycles"] is None
        err = _one_line_error(capsys, ["bench", str(path), "--min-random", str(RANDOM)])
        assert "gcc, which is not installed (apt-get install gcc)" in err
        monkeypatch.setenv("ALPHADEV_CACHE", str(tmp_path / "cache"))  # no harness built yet, no gcc to build it
        err = _one_line_error(capsys, ["verify", str(path), "--random", str(RANDOM)])
        assert "the native backend needs gcc (apt-get install gcc)" in err
    finally:
        latency._mca_binary.cache_clear()
        latency.mca.cache_clear()


def test_a_bad_name_is_refused_before_the_record_is_judged():
    with pytest.raises(RecordError, match="not a C identifier"):
        header(Record.of("sort3", SORT3), "a-b")
