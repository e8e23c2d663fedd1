"""The explorer's archive: harvested cells replay to their states, widths hold, runs resume it."""
import functools

import jax
import numpy as np
import pytest

import games
from alphadev import networks as N
from alphadev.archive import Archive
from alphadev.search import Search, SearchConfig
from alphadev.selfplay import Cells, make_prefix_values, make_selfplay
from alphadev.config import load_config
from alphadev.train import Trainer
from games.sort import sorting_network

NET = N.NetConfig(dim=16, layers=1, heads=2)


@pytest.fixture(scope="module")
def harvested():
    game = games.make("sort3")
    net, obs = N.make(game, NET)
    params = jax.jit(functools.partial(N.init, net, obs, game))(jax.random.PRNGKey(0))  # eagerly: seconds
    search = Search(game, net, obs, net_config=NET, config=SearchConfig(simulations=8))
    play = make_selfplay(game, search, 4, harvest=True)
    return game, play, play(params, jax.random.PRNGKey(1)), params, search


def _key(fp):
    fp = np.asarray(fp).astype(np.uint64)
    return int((fp[0] << np.uint64(32)) | fp[1])


def test_cells_replay_to_their_fingerprint_depth_and_score(harvested):
    game, _, traj, _, _ = harvested
    archive = Archive(3, game.max_moves)
    assert archive.add(traj.cells) == len(archive) > 3
    assert max(len(d) for d in archive.depths) <= 3
    replay = jax.jit(game.from_moves)
    fingerprint, earned = jax.jit(game.fingerprint), jax.jit(game.earned)
    for key, cell in archive.cells.items():
        moves, score = cell.moves, cell.score
        row = np.full(game.max_moves, -1, np.int32)
        row[: len(moves)] = moves
        state = replay(row)
        assert _key(fingerprint(state)) == key and int(state.n_moves) == len(moves)
        assert not bool(state.terminated)
        assert abs(float(earned(state)) - score) < 1e-5


def test_children_are_every_legal_move_from_each_start(harvested):
    game, play, _, params, _ = harvested
    deep = game.moves_for(sorting_network(3))
    starts = np.full((4, game.max_moves), -1, np.int32)  # the empty program, then 1-3 moves of a sort3
    for row in range(4):
        starts[row, :row] = deep[:row]
    children = jax.device_get(play(params, jax.random.PRNGKey(2), starts).children)
    legal = np.asarray(jax.jit(jax.vmap(game.from_moves))(starts).legal_action_mask)
    depth = np.broadcast_to(np.array([1, 2, 3, 4])[:, None], legal.shape)
    assert (children.depth[children.alive] == depth[children.alive]).all()
    replay, fingerprint, earned = jax.jit(game.from_moves), jax.jit(game.fingerprint), jax.jit(game.earned)
    for b in range(4):
        assert children.alive[b].any()
        for a in range(game.num_actions):
            moves = children.moves[b, a]
            assert (moves[: b] == starts[b, : b]).all() and moves[b] == a
            state = replay(moves)
            assert children.alive[b, a] == (legal[b, a] and not bool(state.terminated))
            if children.alive[b, a]:
                assert _key(fingerprint(state)) == _key(children.fingerprints[b, a])
                assert abs(float(earned(state)) - children.scores[b, a]) < 1e-5


def test_the_shortest_path_to_a_state_is_kept_and_each_length_keeps_its_best(harvested):
    game = harvested[0]
    M = game.max_moves

    def cells(keys, depths, scores, values=None):
        moves = np.stack([np.r_[np.arange(d), -np.ones(M - d)] for d in depths]).astype(np.int32)
        fps = np.stack([np.zeros(len(keys)), keys], -1).astype(np.uint32)
        return Cells(moves=moves, depth=np.array(depths), fingerprints=fps, scores=np.array(scores, np.float32),
                     values=np.zeros(len(keys), np.float32) if values is None else np.array(values, np.float32),
                     alive=np.ones(len(keys), bool))

    archive = Archive(2, M)
    archive.add(cells([7, 7, 8], [5, 3, 3], [1.0, 1.0, 0.5]))
    assert sorted(len(c.moves) for c in archive.cells.values()) == [3, 3]
    archive.add(cells([9, 10, 7], [3, 3, 2], [2.0, 0.1, 1.0]))
    # Length 3 keeps its best two (9 and 7 moved to length 2, so 9 and 8); 7 lives at length 2.
    assert sorted(archive.depths[3]) == [8, 9] and archive.depths[2] == {7}
    moves, scores = archive.sample(6)
    assert moves.shape == (6, M) and set(scores) <= {2.0, 1.0, 0.5}
    assert all((row[: (row >= 0).sum()] >= 0).all() for row in moves)  # -1 only past the prefix
    assert sum(c.drawn for c in archive.cells.values()) == 6
    # With the search's value in the rank, a state that earned less but promises more stays.
    for weight, kept in ((0.0, {1}), (1.0, {2})):
        archive = Archive(1, M, value_weight=weight)
        archive.add(cells([1, 2], [4, 4], [0.5, 0.4], values=[0.0, 0.3]))
        assert archive.depths[4] == kept


def test_rerank_ranks_cells_by_the_current_value_of_their_states(harvested):
    game, _, _, params, search = harvested
    M = game.max_moves
    cell = lambda key, score, value: Cells(
        moves=np.r_[np.arange(4), -np.ones(M - 4)].astype(np.int32)[None], depth=np.array([4]),
        fingerprints=np.array([[0, key]], np.uint32), scores=np.array([score], np.float32),
        values=np.array([value], np.float32), alive=np.ones(1, bool))
    for rerank, kept in ((False, {1}), (True, {2})):
        archive = Archive(1, M, value_weight=1.0)
        archive.add(cell(1, 0.4, 0.5))       # overrated when it entered
        if rerank:
            archive.rerank(lambda moves: np.full(len(moves), -1.0))
            assert archive.cells[1].rank == pytest.approx(0.4 - 1.0)
        archive.add(cell(2, 0.4, 0.0))
        assert archive.depths[4] == kept

    # The trainer's value_of: the search's two heads summed at the state each prefix reaches,
    # in chunks (here 2 rows each, the last padded).
    network = game.moves_for(sorting_network(3))
    moves = np.full((3, M), -1, np.int32)
    moves[1, :1], moves[2, :4] = network[:1], network[:4]
    got = make_prefix_values(game, search, chunk=2)(params, moves)
    want = jax.jit(lambda p, m: search.head_values(p, jax.vmap(game.from_moves)(m)).sum(-1))(params, moves)
    np.testing.assert_allclose(got, np.asarray(want), rtol=1e-5, atol=1e-6)


def test_episodes_start_from_cells_and_the_archive_survives_a_save(harvested, tmp_path):
    game, play, traj, params, _ = harvested
    archive = Archive(4, game.max_moves)
    archive.add(traj.cells)
    starts, _ = archive.sample(4)
    started = jax.device_get(play(params, jax.random.PRNGKey(2), starts))
    depth = (starts >= 0).sum(1)
    # Each episode's program begins with its cell's moves.
    for b in range(4):
        np.testing.assert_array_equal(started.final.moves[b, : depth[b]], starts[b, : depth[b]])
    assert (started.final.n_moves >= depth).all()
    # Saved and loaded, the archive has the same cells at the same depths with the same figures.
    archive.save(tmp_path / "archive.npz")
    again = Archive(4, game.max_moves)
    again.load(tmp_path / "archive.npz")
    assert again.cells.keys() == archive.cells.keys() and again.depths == archive.depths
    for key, cell in archive.cells.items():
        other = again.cells[key]
        assert (list(other.moves), other.score, other.rank, other.drawn) == (list(cell.moves), cell.score, cell.rank, cell.drawn)


@pytest.mark.slow  # trains twice
def test_a_training_run_resumes_its_archive_and_replay_buffer(tmp_path):
    config = load_config("sort3", target_length=0, selfplay_batch=4, checkpoint_every=1, archive_width=4,
                         archive_fraction=0.5, archive_value_weight=1.0, ablation={"archive_rerank_every": 1}, net={"dim": 16, "layers": 1, "heads": 2},
                         search={"simulations": 4, "max_considered_actions": 4}, learner={"batch": 8, "steps_per_iteration": 1})
    trainer = Trainer(config, tmp_path / "run", quiet=True)
    trainer.train(max_iterations=2)
    assert len(trainer.archive) > 0 and (trainer._starts() >= 0).any()
    again = Trainer(config, tmp_path / "run", quiet=True)
    assert again.restore() and again.archive.cells.keys() == trainer.archive.cells.keys()
    assert again.replay.size == trainer.replay.size == 8  # the replay buffer resumes too
