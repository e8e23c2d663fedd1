"""AlphaDev-S (alphadev/baselines/stochastic.py): moves, cost, evaluation, cold and warm starts."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import games
import isa
from alphadev import baselines, cli
from alphadev.baselines import stochastic as st
from alphadev.results import Record, load

EMPTY = st.EMPTY


def _random_programs(game, moves, n, length, seed):
    """[n, length] packed programs of random lengths over the move vocabulary."""
    rng = np.random.default_rng(seed)
    out = np.full((n, length), EMPTY, np.int32)
    for k, size in enumerate(rng.integers(0, length + 1, n)):
        out[k, :size] = rng.choice(np.asarray(moves.instructions), size)
    return out


def _program(game, packed) -> isa.Program:
    return isa.Program(tuple(game.task.vocabulary[int(a)] for a in packed if a != EMPTY))


def test_moves_keep_programs_packed_inside_the_vocabulary_and_length_limit():
    game = games.make("varsort3")  # jumps and labels in its vocabulary: never proposed
    moves = st.make_moves(game)
    allowed = set(np.asarray(moves.instructions).tolist())
    assert all(isinstance(game.task.vocabulary[a], isa.Instruction) for a in allowed)
    programs = _random_programs(game, moves, 64, 8, seed=0)
    programs[0] = EMPTY  # the empty program
    programs[1] = programs[2, :1].repeat(8)  # a full one
    propose = jax.jit(jax.vmap(st.propose, in_axes=(0, 0, None)))
    key, changed = jax.random.PRNGKey(0), 0
    for _ in range(50):
        key, sub = jax.random.split(key)
        new = np.asarray(propose(jax.random.split(sub, len(programs)), jnp.asarray(programs), moves))
        used = new != EMPTY
        assert set(new[used].tolist()) <= allowed
        assert (np.sort(~used, axis=1, kind="stable") == ~used).all()  # packed: no gap before the end
        assert np.abs(used.sum(1) - (programs != EMPTY).sum(1)).max() <= 1
        changed += int((new != programs).any(1).sum())
        programs = new
    assert changed > 0.5 * 50 * len(programs)


def test_opcode_and_operand_neighbours():
    game = games.make("sort3")
    moves = st.make_moves(game)
    vocab = game.task.vocabulary
    a = vocab.index(isa.parse("cmp eax, ecx")[0])
    opcode = {isa.to_text(isa.Program((vocab[b],))).strip() for b in np.asarray(moves.opcode[a, :moves.opcode_count[a]])}
    assert opcode == {"mov eax, ecx", "cmovl eax, ecx", "cmovg eax, ecx"}
    for b in np.asarray(moves.operand[a, :moves.operand_count[a]]):
        assert vocab[b].mnemonic == "cmp" and sum(x != y for x, y in zip(vocab[a].operands, vocab[b].operands)) == 1


def test_cost_ranks_a_correct_shorter_program_below_a_longer_one():
    game = games.make("sort3")
    reference = game.task.references[0].program
    longer = isa.Program((isa.parse("mov esi, eax")[0], *reference))  # still correct, 19 instructions
    wrong = isa.parse(isa.to_text(reference).replace("cmovg edx, esi", "cmovl edx, esi"))
    packed = np.full((3, game.config.max_length), EMPTY, np.int32)
    for row, program in enumerate((reference, longer, wrong)):
        moves = game.moves_for(program)
        packed[row, :len(moves)] = moves
    items, correct, potential = st.make_evaluate(game)(jnp.asarray(packed))
    assert correct.tolist() == [True, True, False]
    length = jnp.asarray((packed != EMPTY).sum(1))
    for shaping in (0.0, 0.5, 1.0):
        cost = st.cost_of(items, correct, potential, length, alpha=0.005, shaping=shaping, most=st.most_potential(game))
        assert cost[0] < cost[1] < cost[2]


@pytest.mark.parametrize("name", ["sort3", "varsort3", "hash9to16"])
def test_jax_evaluation_agrees_with_unicorn_on_random_programs(name):
    game = games.make(name)
    moves = st.make_moves(game)
    programs = _random_programs(game, moves, 24, 10, seed=1)
    items, correct, _ = jax.device_get(st.make_evaluate(game)(jnp.asarray(programs)))
    for k, packed in enumerate(programs):
        score = game.task.score(_program(game, packed), "unicorn", cycles=False)
        assert score.correct == bool(correct[k]) and score.items == pytest.approx(float(items[k]), abs=1e-5), k


def test_sort2_cold_finds_a_correct_program(tmp_path):
    best = baselines.run("stochastic", "sort2", tmp_path / "run", minutes=0.5, seed=0, quiet=True,
                         options=dict(chains=16, steps=64))
    assert best is not None
    assert games.make("sort2").task.score(best.program, "unicorn", cycles=False).correct
    assert load(tmp_path / "run" / "best.json").length == best.length


def test_a_warm_start_never_records_anything_worse(tmp_path):
    reference = games.make("sort3").task.references[0].program
    path = Record.of("sort3", reference, source="reference").save(tmp_path / "reference.json")
    baselines.run("stochastic", "sort3", tmp_path / "run", minutes=0.25, seed=0, quiet=True, target_length=0,
                  options={"chains": 8, "steps": 32, "from": str(path)})
    lengths = [load(p).length for p in sorted((tmp_path / "run" / "records").glob("*.json"))]
    assert all(n < len(reference) for n in lengths)
    assert lengths == sorted(lengths, reverse=True)


def test_bad_from_is_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    branchy = Record.of("varsort3", games.make("varsort3").task.references[0].program).save(tmp_path / "v.json")
    sort2 = Record.of("sort2", games.make("sort2").task.references[0].program).save(tmp_path / "s.json")
    cases = [("sort3", tmp_path / "missing.json", "no such file"),
             ("sort3", sort2, "a record for sort2, not sort3"),
             ("varsort3", branchy, "it jumps")]
    for game, value, problem in cases:
        argv = ["search", game, "--method", "stochastic", "--out", str(out), "--set", f"from={value}"]
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "--set from" in err and problem in err, err
        assert not out.exists()
    assert cli.main(["search", "sort3", "--method", "stochastic", "--out", str(out), "--set", "init=warm"]) == 2
    assert "init is empty or random" in capsys.readouterr().err and not out.exists()
