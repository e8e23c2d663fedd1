"""A* (alphadev/baselines/astar.py) and its image of the game (kernel.py): the image agrees with
`Game.step`, the bound never exceeds the true remaining length, the canonical key merges only
equivalent states, the search returns the known optimum, and it writes the run format."""
import functools
import json

import numpy as np
import pytest

import games
import isa
from alphadev import baselines, rerank
from alphadev.baselines import kernel as K
from alphadev.baselines.astar import AStar
from alphadev.config import load_config
from alphadev.results import load
from alphadev.rundir import RunDir

# A 17-instruction sort3 (AlphaDev's length) in this vocabulary, as A* first found it.
SORT3_17 = isa.parse("""
    mov eax, dword ptr [rdi]
    mov ecx, dword ptr [rdi+4]
    mov edx, dword ptr [rdi+8]
    cmp eax, ecx
    mov esi, eax
    cmovl eax, ecx
    cmovl ecx, esi
    cmp eax, edx
    mov esi, eax
    cmovl eax, edx
    cmovg esi, edx
    cmp ecx, edx
    cmovl edx, ecx
    cmovl ecx, esi
    mov dword ptr [rdi+8], eax
    mov dword ptr [rdi+4], ecx
    mov dword ptr [rdi], edx
""")


@functools.lru_cache(maxsize=None)
def _game(name):
    return games.make(name, **load_config(name).game_config)


@functools.lru_cache(maxsize=None)
def _kernel(name):
    return K.Kernel(_game(name), chunk=16)


def _image_of(kernel, moves):
    nodes = kernel.root()
    for a in moves:
        nodes = kernel.step(nodes, np.array([a]))
    return nodes


def _programs(name):
    out = [r.program for r in _game(name).task.references]
    return out + [SORT3_17] if name == "sort3" else out


@pytest.mark.parametrize("name", ["sort3", pytest.param("sort4", marks=pytest.mark.slow)])
def test_the_image_follows_the_game_move_by_move(name):
    """Random legal episodes and the references, stepped by the game and by the kernel: the
    registers written, the value slots, the compare outcome, the legal moves and correctness
    agree, and every dead end the game detects the kernel detects too."""
    game, kernel = _game(name), _kernel(name)
    rng = np.random.default_rng(0)
    step = __import__("jax").jit(game.step)
    episodes = [game.moves_for(p) for p in _programs(name)] + [None] * 6
    for moves in episodes:
        state, nodes, played = game.init(), kernel.root(), 0
        while not bool(state.terminated):
            children = kernel.expand(nodes)
            legal, dead, correct = children.legal, children.dead, children.correct
            assert (legal[0] == np.asarray(state.legal_action_mask)).all()
            a = moves[played] if moves is not None else int(rng.choice(np.nonzero(legal[0])[0]))
            state, nodes, played = step(state, a), kernel.step(nodes, np.array([a])), played + 1
            assert bool(correct[0, a]) == bool(state.correct)
            regs = np.asarray(state.machine.regs[:, kernel.reg_numbers, 0]).view(np.int32)
            defined = nodes.defined[0]
            assert (nodes.vals[0][:kernel.R].T[:, defined] == regs[:, defined]).all()
            memory = np.asarray(state.machine.memory[:, :4 * kernel.S]).view(np.int32)
            assert (nodes.vals[0][kernel.R:].T == memory).all()
            if bool(state.flags_defined[0]):
                lt = np.asarray(state.machine.flags[:, 2] != state.machine.flags[:, 3])
                eq = np.asarray(state.machine.flags[:, 1])
                assert (nodes.cmp[0] == np.where(lt, -1, np.where(eq, 0, 1))).all()
            if bool(game._dead_end(state)):
                assert dead[0, a]
        if moves is not None:
            assert bool(state.correct) and played == len(moves)


@pytest.mark.parametrize("name", ["sort3", "sort4"])
def test_the_bound_never_exceeds_what_a_correct_program_still_needs(name):
    """On every prefix of every known correct program, the bound is at most the instructions
    left, and it falls by at most one per instruction (consistency)."""
    kernel = _kernel(name)
    for program in _programs(name):
        moves = _game(name).moves_for(program)
        nodes, bounds = kernel.root(), []
        for k, a in enumerate(moves):
            _, _, bound, dead, correct, _ = kernel.expand(nodes)
            assert not dead[0, a]
            bounds.append(int(bound[0, a]))
            assert bounds[-1] <= len(moves) - (k + 1), (k, bounds)
            nodes = kernel.step(nodes, np.array([a]))
        assert correct[0, a] and bounds[-1] == 0
        assert all(b - c <= 1 for b, c in zip(bounds, bounds[1:]))


def test_the_bound_is_positive_until_the_end():
    kernel = _kernel("sort3")
    bound = kernel.expand(kernel.root()).bound
    legal = kernel.expand(kernel.root())[0][0]
    assert (bound[0][legal] >= 11).all()  # 3 loads, 3 stores, 3 compares and 3 cmovs, less the load played


def test_the_key_merges_renamed_registers_and_flipped_compares_only():
    game, kernel = _game("sort3"), _kernel("sort3")
    key = lambda text: int(kernel.keys(_image_of(kernel, game.moves_for(isa.parse(text))))[0])
    loads = "mov eax, dword ptr [rdi]\nmov ecx, dword ptr [rdi+4]\nmov edx, dword ptr [rdi+8]\n"
    a = key(loads + "mov esi, eax\ncmp eax, ecx\ncmovg eax, ecx")
    # The same with eax and ecx holding each other's values: not a renaming (loads differ).
    assert a != key(loads + "mov esi, ecx\ncmp eax, ecx\ncmovg ecx, eax")
    # A compare the other way round, with the cmov's condition swapped: the same state, flags flipped.
    assert a == key(loads + "mov esi, eax\ncmp ecx, eax\ncmovl eax, ecx")
    # Renaming: after all four registers are written, edx and esi swap contents: the same
    # state up to renaming, while a different copy is a different state.
    b = key(loads + "mov esi, edx\ncmp eax, ecx\nmov edx, eax")    # edx = a, esi = c
    c = key(loads + "cmp eax, ecx\nmov esi, eax")                   # edx = c, esi = a
    assert b == c
    assert b != key(loads + "cmp eax, ecx\nmov esi, ecx")            # edx = c, esi = b
    # Equal keys: the same bound and the same number of legal moves, as equivalent states must.
    x = _image_of(kernel, game.moves_for(isa.parse(loads + "mov esi, eax\ncmp eax, ecx\ncmovg eax, ecx")))
    y = _image_of(kernel, game.moves_for(isa.parse(loads + "mov esi, eax\ncmp ecx, eax\ncmovl eax, ecx")))
    ex, ey = kernel.expand(x), kernel.expand(y)
    assert ex[0].sum() == ey[0].sum() and sorted(ex[2][0][ex[0][0]]) == sorted(ey[2][0][ey[0][0]])
    assert sorted(ex[1][0][ex[0][0]].tolist()) == sorted(ey[1][0][ey[0][0]].tolist())


def test_unsupported_games_are_one_line_errors_before_anything_is_written(tmp_path):
    for name in ("varsort3", "hash9to16"):
        with pytest.raises(ValueError, match=f"astar: .*{name}"):
            K.Kernel(games.make(name))
        with pytest.raises(ValueError, match=f"^astar: {name}"):
            baselines.run("astar", name, tmp_path / name, minutes=1, quiet=True)
        assert not (tmp_path / name).exists()


def _shortest(name):
    game = _game(name)
    kernel = _kernel(name)
    astar = AStar(kernel, budget=game.config.max_length)
    while True:
        ids, nodes = astar.pop(astar.lowest(), 4096)
        hits = np.asarray(astar.correct)[ids]
        if hits.any():
            return len(astar.moves(int(ids[hits][0]))), astar
        astar.expand(ids, nodes)


def test_sort2_is_eight_instructions():
    length, _ = _shortest("sort2")
    assert length == 8


def test_sort3_is_seventeen_instructions():
    length, _ = _shortest("sort3")
    assert length == 17


def test_a_search_writes_the_run_format(tmp_path):
    best = baselines.run("astar", "sort2", tmp_path / "run", minutes=2, quiet=True, target_length=0,
                         options=dict(all=True, rank=3, keep=2))
    assert best is not None and best.length == 8
    run = RunDir(tmp_path / "run")
    assert run.best().length == 8 and [r.length for r in run.records()] == [8]
    metrics = run.metrics()
    for column in ("explored", "frontier", "f", "dedup_hits"):  # rows: at most every second, and the last
        assert column in metrics and len(metrics[column]) >= 2
    summary = json.loads((tmp_path / "run" / "alternatives.json").read_text())
    assert summary["length"] == 8 and summary["count"] >= len(summary["files"]) == 2
    assert summary["model_cycles"] == sorted(summary["model_cycles"])
    for name in summary["files"]:
        record = load(tmp_path / "run" / "alternatives" / name)
        assert record.length == 8 and record.latency["model_cycles"] in summary["model_cycles"]
        assert _game("sort2").task.score(record.program).correct
    # Every listed program is a candidate, so `alphadev rerank` can time the model's best natively.
    candidates = run.candidates()
    assert len(candidates) == len({c["text"] for c in candidates}) == summary["listed"]
    assert {c["length"] for c in candidates} == {8}
    game, shortlist = rerank.shortlist(tmp_path / "run", top=3)
    assert game == "sort2" and [c["model_cycles"] for c in shortlist] == sorted(c["model_cycles"] for c in candidates)[:3]


def _every(kernel, budget):
    astar, goals = AStar(kernel, budget=budget, every=True), []
    while astar.lowest() is not None:
        ids, nodes = astar.pop(astar.lowest(), 4096)
        hits = np.asarray(astar.correct)[ids]
        goals += ids[hits].tolist()
        if (~hits).any():
            astar.expand(ids[~hits], K.take(nodes, ~hits))
    return astar, np.array(goals)


def test_every_shortest_sort2_is_listed_once_and_the_count_matches():
    """The count over classes of states equals the count over concrete states (symmetries off)
    and the concrete programs listed, all distinct; a sample of them is correct on Unicorn."""
    from alphadev.baselines.astar import _listing
    game, kernel = _game("sort2"), _kernel("sort2")
    astar, goals = _every(kernel, 8)
    count = astar.counts(goals)
    concrete = K.Kernel(game, chunk=16)
    concrete.symmetric_registers = concrete.symmetric_flags = False
    plain, plain_goals = _every(concrete, 8)
    assert len(plain.g) > len(astar.g) and plain.counts(plain_goals) == count
    listed = _listing(kernel, astar, goals, 10**6)
    assert count == len(listed) == len({tuple(m) for m in listed}) > 1
    from games import paths
    for moves in listed[::32]:
        program = paths.program_of(game.task.vocabulary, moves)
        assert len(program) == 8 and game.task.score(program).correct


# ---- order=rows: Ullrich & Hack's estimate, not a bound ------------------------------------

def test_rows_start_at_the_number_of_orders_and_end_at_one():
    """`Kernel.rows` along the references: every order of distinct values is its own row until
    the first compare-exchange, the rows never grow on a sorting network's path, and N
    registers hold the output for every order (1 row) once it has sorted."""
    for name, orders in (("sort3", 6), ("sort4", 24)):
        game, kernel = _game(name), K.Kernel(_game(name), chunk=16, estimate=True)
        assert int(kernel.rows(K.take(kernel.root(), 0))) == orders
        for program in _programs(name):
            nodes, rows = kernel.root(), []
            for a in game.moves_for(program):
                children = kernel.expand(nodes)
                rows.append(int(children.rows[0, a]))
                nodes = kernel.step(nodes, np.array([a]))
            assert rows[0] == orders and rows[-1] == 1, (name, rows)
            assert all(b <= a for a, b in zip(rows, rows[1:])), rows


def test_rows_are_computed_only_on_request():
    kernel = _kernel("sort3")
    assert not kernel.estimate and not kernel.expand(kernel.root()).rows.any()
    with pytest.raises(ValueError, match="^astar: order=rows needs a Kernel built with estimate=True"):
        AStar(kernel, budget=22, order="rows")
    with pytest.raises(ValueError, match="^astar: order 'fast': the orders are exact, rows"):
        AStar(kernel, budget=22, order="fast")


def test_rows_order_finds_sort3_fast_and_its_lower_bound_holds_until_it_proves_17():
    """Order rows pops a correct sort3 before exact A* would; the lower bound it claims (the
    least of `proven` and the best found) never exceeds 17, the proven shortest length, and the
    branch and bound that follows empties the open list with 17 as the best."""
    game = _game("sort3")
    kernel = K.Kernel(game, chunk=16, estimate=True)
    astar, found = AStar(kernel, budget=game.config.max_length, order="rows"), None
    while astar.lowest() is not None:
        assert min(astar.proven(), astar.budget + 1) <= 17
        ids, nodes = astar.pop(astar.lowest(), 256)
        hits = np.asarray(astar.correct)[ids]
        if hits.any():
            length = min(len(astar.moves(int(i))) for i in ids[hits])
            if found is None:
                found = (length, astar.expanded)
            astar.budget = min(astar.budget, length - 1)
        astar.expand(ids[~hits], K.take(nodes, ~hits))
    assert astar.budget == 16 and found[0] >= 17
    _, exact = _shortest("sort3")
    assert found[1] < exact.expanded


def test_rows_order_writes_a_record_that_says_it_is_not_proven(tmp_path):
    best = baselines.run("astar", "sort3", tmp_path / "run", minutes=2, quiet=True,
                         options=dict(order="rows"))
    assert best is not None and best.length == 17 and "not proven shortest" in best.source
    run = RunDir(tmp_path / "run")
    assert run.best().length == 17 and "not proven shortest" in run.best().source
    metrics = run.metrics()
    assert "lower_bound" in metrics and all(b <= 17 for b in metrics["lower_bound"])
    assert _game("sort3").task.score(run.best().program).correct


def test_rows_order_proves_sort2_when_nothing_shorter_is_open(tmp_path, capsys):
    baselines.run("astar", "sort2", tmp_path / "run", minutes=2, target_length=0,
                  options=dict(order="rows", weight=1.0))
    out = capsys.readouterr().out
    assert "proven shortest: 8 instructions" in out and RunDir(tmp_path / "run").best().length == 8


def test_bad_order_options_are_one_line_errors_before_anything_is_written(tmp_path, capsys):
    from alphadev import cli
    cases = [(["order=fast"], "--set order=fast: astar's orders are exact, rows"),
             (["order=rows", "all=true"], "--set all=true needs order=exact: order=rows proves no length"),
             (["weight=-1"], "--set weight=-1: weight must not be negative"),
             (["weight=heavy"], "--set weight=heavy: weight takes a float")]
    for items, problem in cases:
        out = tmp_path / "run"
        argv = ["search", "sort2", "--method", "astar", "--out", str(out)]
        for item in items:
            argv += ["--set", item]
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and problem in err, err
        assert not out.exists()


# ---- order=deep: deepest first within reach of the budget -----------------------------------

def test_deep_order_finds_sort3_at_its_budget(tmp_path):
    best = baselines.run("astar", "sort3", tmp_path / "run", minutes=2, quiet=True,
                         options=dict(order="deep"))     # the budget: the target, AlphaDev's 17
    assert best is not None and best.length == 17 and "order=deep, not proven shortest" in best.source
    assert _game("sort3").task.score(best.program).correct


def test_deep_order_below_the_shortest_length_ends_with_nothing_found(tmp_path, capsys):
    """With the budget below the shortest sort3 (17), nodes out of the deep order's reach are
    still expanded by least f, so the search ends when nothing within the budget is open."""
    assert baselines.run("astar", "sort3", tmp_path / "run", minutes=2, target_length=0,
                         options=dict(order="deep", budget=16)) is None
    assert "no program within 16 instructions found" in capsys.readouterr().out


def test_collect_keeps_every_program_of_the_best_length_as_a_candidate(tmp_path):
    best = baselines.run("astar", "sort3", tmp_path / "run", minutes=2, quiet=True,
                         options=dict(order="rows", collect=12))
    assert best is not None and best.length == 17
    candidates = RunDir(tmp_path / "run").candidates()
    texts = {c["text"] for c in candidates}
    assert len(texts) == len(candidates) >= 12 and {c["length"] for c in candidates} == {17}
    task = _game("sort3").task
    assert all(task.score(isa.parse(text)).correct for text in texts)


@pytest.mark.slow
def test_deep_order_reaches_sort4_at_28(tmp_path):
    best = baselines.run("astar", "sort4", tmp_path / "run", minutes=3, quiet=True, options=dict(order="deep"))
    assert best is not None and best.length == 28


@pytest.mark.slow
def test_rows_order_reaches_sort4_at_28(tmp_path):
    best = baselines.run("astar", "sort4", tmp_path / "run", minutes=3, quiet=True, options=dict(order="rows"))
    assert best is not None and best.length == 28 and "not proven shortest" in best.source
