"""verify, export (compiled and run), show and bench."""
import dataclasses
import json

import numpy as np
import pytest

import games
import isa
from alphadev import cli
from alphadev.export import header
from alphadev.results import Record, RecordError, load
from alphadev.verify import verify
from games.hash import ABSEIL_2023
from games.sort import VARSORT3_BRANCHY, random_values, sorting_network

REFERENCES = {"sort2_network": ("sort2", sorting_network(2)), "sort3_network": ("sort3", sorting_network(3)),
              "varsort3_branchy": ("varsort3", VARSORT3_BRANCHY), "hash9to16_abseil2023": ("hash9to16", ABSEIL_2023)}

RANDOM = 2000  # the CLI default is 100,000; tests keep to a fast slice of the same inputs


def _verified(name):
    game, program = REFERENCES[name]
    record = Record.of(game, program, source="reference")
    record.verification = dataclasses.asdict(verify(program, game, n_random=RANDOM))
    return record


@pytest.mark.parametrize("name", ["sort3_network", "varsort3_branchy", "hash9to16_abseil2023"])
def test_references_verify_on_both_backends(name):
    game, program = REFERENCES[name]
    result = verify(program, game, n_random=RANDOM)
    assert result.passed and result.first_failure is None
    assert result.inputs == RANDOM + len(games.task(game).inputs)


def test_random_inputs_include_extremes_zero_and_duplicates():
    values = random_values(5000, 3, np.random.default_rng(0))
    assert (values == -2**31).any() and (values == 2**31 - 1).any() and (values == 0).any()
    assert (values[:, 0] == values[:, 1]).mean() > 0.05


def test_a_wrong_program_fails_with_the_first_failing_input():
    program = isa.parse(isa.to_text(REFERENCES["sort3_network"][1]).replace("cmovg eax, ecx", "cmovl eax, ecx", 1))
    result = verify(program, "sort3", n_random=RANDOM)
    assert not result.passed and "input" in result.first_failure and "expected" in result.first_failure


def test_cli_verify_exit_codes_and_record(tmp_path, capsys):
    good = tmp_path / "good.s"
    good.write_text(isa.to_text(REFERENCES["sort3_network"][1]))
    out = tmp_path / "rec.json"
    assert cli.main(["verify", str(good), "--game", "sort3", "--out", str(out), "--random", "500"]) == 0
    record = load(out)
    assert record.untrusted(min_random=500) is None and record.latency["cycles"] > 0
    assert record.verification["random_inputs"] == 500 and not record.verified  # below MIN_RANDOM_INPUTS
    bad = tmp_path / "bad.s"
    bad.write_text(isa.to_text(REFERENCES["sort3_network"][1]).replace("mov dword ptr [rdi+8], edx", ""))
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
    game, program = REFERENCES["sort3_network"]
    with pytest.raises(RecordError, match="not verified: run `alphadev verify` first"):
        header(Record.of(game, program))


def test_show_prints_listing_and_figures_and_refuses_below_the_minimum(tmp_path, capsys):
    path = _verified("sort3_network").save(tmp_path / "r.json")
    assert cli.main(["show", str(path), "--min-random", str(RANDOM)]) == 0
    out = capsys.readouterr().out
    assert "cmovg eax, ecx" in out and "llvm-mca" in out and "unicorn passed" in out and "8b 07" in out
    assert cli.main(["show", str(path)]) == 2  # 2,000 random inputs, below the default 100,000
    assert "below the minimum of 100,000" in capsys.readouterr().err


def _padded(program, chain=30):
    """`program` made slower but still correct: after the loads, a chain of `chain` dependent
    imuls on a scratch register, zeroed and added into the first value, so that every output
    (and so the next call's input) waits for the chain; out-of-order execution cannot hide it."""
    first_compute = next(k for k, ins in enumerate(program) if ins.memory is None)
    pad = isa.parse("mov r8d, eax\n" + "imul r8d, r8d\n" * chain + "and r8d, 0\nadd eax, r8d")
    return isa.Program(program.instructions[:first_compute] + pad.instructions + program.instructions[first_compute:])


def test_bench_times_reference_c_and_records_side_by_side_in_both_modes():
    from alphadev.bench import bench
    game, program = REFERENCES["sort3_network"]
    slow = _padded(program)
    assert games.make("sort3").task.score(slow, "unicorn", cycles=False).correct
    report = bench("sort3", [("same program", program), ("padded", slow)], pool=1024, reps=5)
    assert list(report.modes) == ["throughput", "latency"]
    for mode, rows in report.modes.items():
        assert [r.name for r in rows] == ["human reference (cmov network)", "same program", "padded",
                                          "C network (gcc -O3)"]
        assert [r.length for r in rows] == [18, 18, 18 + 33, None]
        for r in rows:
            assert np.isfinite(r.median) and r.median > 0 and r.p10 <= r.median <= r.p90, (mode, r)
    # 30 dependent imuls issue one a cycle at best, and take 3 cycles each on any x86-64.
    reference, same, padded, _ = report.modes["throughput"]
    assert padded.median > 25 and padded.median > 2 * reference.median and padded.ratio > 2, report
    reference, same, padded, _ = report.modes["latency"]
    assert padded.median > 80 and padded.median > 2 * same.median, report


def test_bench_refuses_records_of_another_game(tmp_path, capsys):
    game, program = REFERENCES["sort3_network"]
    sort3 = Record.of(game, program, source="reference").save(tmp_path / "sort3.json")
    assert cli.main(["bench", str(sort3), "--game", "sort4"]) == 2
    assert "a record for sort3, not sort4" in capsys.readouterr().err
    sort2 = Record.of("sort2", REFERENCES["sort2_network"][1]).save(tmp_path / "sort2.json")
    assert cli.main(["bench", str(sort3), str(sort2)]) == 2
    assert "the records are for different games" in capsys.readouterr().err


def test_plot_draws_runs_and_refuses_a_directory_without_metrics(tmp_path, capsys):
    runs = []
    for seed, lengths in ((0, [0, 12, 12, 10]), (1, [0, 0, 11, 11])):
        run = tmp_path / f"seed{seed}"
        run.mkdir()
        rows = [f"{i + 1},{1.5 * i},{n},{0.5 + 0.1 * i}" for i, n in enumerate(lengths)]
        (run / "metrics.csv").write_text("iteration,elapsed_s,best_length,best_items\n" + "\n".join(rows) + "\n")
        runs.append(str(run))
    out = tmp_path / "curves.png"
    assert cli.main(["plot", *runs, "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["plot", str(empty), "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no metrics.csv rows" in err[0]
    assert not (tmp_path / "x.png").exists()
    for output, says in ((tmp_path / "c.txt", "not an image name"), (tmp_path / "no" / "c.png", "no directory")):
        assert cli.main(["plot", *runs, "-o", str(output)]) == 2
        assert says in capsys.readouterr().err and not output.parent.joinpath(output.name).exists()
    assert not (tmp_path / "no").exists()


# The random baseline's 6-instruction hash (runs/compare2): correct on the corpus, 0 for every
# string whose first word is 0.
WEAK_HASH = """mov rax, qword ptr [rdi+rsi-8]
mov rcx, qword ptr [rdi]
mul rdx
add rdx, rax
mul rcx
xor rax, rdx
"""


def test_verify_runs_the_battery_and_records_its_figures(tmp_path, capsys):
    weak = tmp_path / "weak.s"
    weak.write_text(WEAK_HASH)
    out = tmp_path / "weak.json"
    assert cli.main(["verify", str(weak), "--game", "hash9to16", "--random", "200", "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    families = [line for line in printed.splitlines() if line.startswith("battery ")]
    assert len(families) == 8 and any(line.startswith("battery zero-heavy (") and "FAILED" in line for line in families)
    failure = next(line for line in printed.splitlines() if line.startswith("first failure: "))
    assert failure.startswith("first failure: unicorn: passes the corpus, fails the battery: "
                              "state sweep: low 32 bits collisions 318 (at most 2) (and ")
    record = load(out)
    v = record.verification
    assert not v["unicorn"] and not v["native"] and v["battery"]["passed"] is False
    assert "verification failed on unicorn and native (unicorn: passes the corpus" in record.untrusted(min_random=0)
    # Abseil 2023 passes; its figures are bound by the digest.
    good = _verified("hash9to16_abseil2023")
    assert good.verification["battery"]["passed"] and good.untrusted(min_random=RANDOM) is None
    good.verification["battery"]["families"][0]["checks"][0]["value"] += 1
    assert "changed since verification" in good.untrusted(min_random=RANDOM)


def test_a_hash_record_verified_before_the_battery_is_not_trusted():
    from alphadev.results import verification_digest
    record = _verified("hash9to16_abseil2023")
    record.verification["battery"] = None
    record.verification["digest"] = verification_digest(record.game, record.program, record.verification)
    assert "verified without the game's battery" in record.untrusted(min_random=RANDOM)
    record.verification["battery"] = {"families": 3}
    assert "verification.battery is not a battery verdict" in record.untrusted(min_random=RANDOM)
