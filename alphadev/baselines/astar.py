"""A*: exact, optimal-length search over the game's states, after Ullrich & Hack (CGO 2025).

Nodes are images of the game's state (`kernel.Kernel`: every input's registers, slots and last
compare outcome, and the game's bookkeeping), expanded in batches by every legal move under the
game's own rules. A node is kept once per canonical key (`Kernel.key`: up to register renaming
and compare orientation, without the length), at the fewest instructions that reach it; a
child is dropped when it is a dead end (a value lost, a slot stored wrong) or when g + bound
exceeds the budget (the game's `max_length`), where the bound (`Kernel.judge`) is a consistent
lower bound on the instructions still needed: stores + loads + cmovs + compares still
required. Nodes are expanded in order of f = g + bound, deepest first among equal f; a correct
program is a node with bound 0, so the first one popped is a shortest program of the game (no
open node could lead to a shorter one).

With `all`, the search goes on through every node of f equal to that length and keeps every
edge that reaches a node at its fewest instructions; the shortest programs are the paths of
that graph, counted exactly (a class of images reached by N prefixes passes N to each child
class per move of its representative, since renaming maps the moves of one member onto the
other's). It then lists them (all of them, or the first `limit` in move order), ranks them
by the cycle model (each written to candidates.jsonl, so `alphadev rerank` times the best
natively), the best `rank` of them then by llvm-mca cycles, and writes the fastest `keep` as
records in `alternatives/` of the run directory (`records/` holds only programs shorter than
the best so far), with the count in `alternatives.json`.

With `order=rows` the open list is ordered by an estimate after Ullrich & Hack's (g + bound +
round(weight * log2 of the distinct permutation rows left), `AStar`) rather than by the bound:
a correct program comes much sooner, but it is not proven shortest. It is recorded as such, and
the search goes on as a branch and bound below it (`_guided`), logging the length proven so far.
`order=deep` expands, among the nodes whose estimate is within `slack` of the budget, the
deepest first: with the budget set to the length sought (`budget`), it dives to a program
instead of widening the plateau of nodes that all look on pace. With `collect`, the budget
stays at the best length found and every correct program of it is written to candidates.jsonl,
for `alphadev rerank` to time natively.
"""
from __future__ import annotations

import json
import math
import time
from collections import Counter, defaultdict

import numpy as np

import games
import isa
from games import paths
from alphadev.baselines.kernel import Kernel, Nodes, concat, take, unsupported
from alphadev.baselines.log import SearchLog

__all__ = ["search", "AStar", "ORDERS"]

# How the open list is ordered (`AStar`): "exact" by g + bound, "rows" by g + bound +
# round(weight * log2(rows)), "deep" deepest first among nodes whose g + bound + round(weight *
# log2(rows)) is within `slack` of the budget.
ORDERS = ("exact", "rows", "deep")


class AStar:
    """The open list, the best node per key and, with `every`, the graph of shortest prefixes.

    Args:
      kernel: the `Kernel` of the game (built with `estimate` for orders "rows" and "deep").
      budget: the most instructions a program may have; lowering it later drops the open nodes
        whose g + bound exceeds it as they are popped.
      every: keep every shortest edge (for counting and listing all shortest programs).
      order: "exact": the open list is ordered by f = g + bound, a consistent lower bound, so the
        first correct program popped is a shortest one. "rows": by g + bound + round(weight *
        log2(rows)), `Kernel.rows` the distinct rows of ranks left, after Ullrich & Hack's
        ordering by that count. Each compare-exchange of a sorting network halves the rows at
        best and costs a mov and a second cmov beyond the compare and cmov the bound counts, so
        about 2 * log2(rows) instructions are missing from the bound; the sum is no lower
        bound, and the first correct program popped is not proven shortest (`proven` says how
        short a program could still be). "deep": the deepest (most g) bucket among those whose
        order "rows" estimate is at most budget + `slack`, then as "rows": the search dives
        where the estimate says a program within the budget is in reach, and stays complete
        below the budget.
      weight: with orders "rows" and "deep", the instructions charged per halving of the rows.
      slack: with order "deep", how far above the budget the estimate may be.
    Raises:
      ValueError: one line, for an unknown order, `every` with an order other than "exact", or
        such an order on a kernel without `estimate`.
    """

    def __init__(self, kernel: Kernel, *, budget: int, every: bool = False, order: str = "exact",
                 weight: float = 2.5, slack: int = 4):
        if order not in ORDERS:
            raise ValueError(f"astar: order {order!r}: the orders are {', '.join(ORDERS)}")
        if order != "exact" and every:
            raise ValueError(f"astar: all=true needs order=exact (order={order} proves no length)")
        if order != "exact" and not kernel.estimate:
            raise ValueError(f"astar: order={order} needs a Kernel built with estimate=True")
        self.kernel, self.budget, self.every, self.order, self.weight = kernel, budget, every, order, weight
        self.slack = slack
        self.best: dict[int, int] = {}                 # key -> node id at its fewest instructions
        self.g, self.parent, self.action, self.correct = [], [], [], []
        self.floor: list[int] = []                     # node id -> g + bound, a lower bound through it
        self.open_floors: Counter = Counter({0: 1})    # floor -> open entries (stale ones included)
        self.open: dict[tuple[int, int], list] = defaultdict(list)   # (f, g) -> [(ids, Nodes)]
        self.edges: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (child, parent, action)
        self.expanded = self.generated = self.duplicates = self.pruned = 0
        root = kernel.root()
        self.keys: list[int] = kernel.keys(root).tolist()   # node id -> key
        ids = self._new(kernel.keys(root), 0, np.array([-1]), np.array([-1]), np.array([False]), np.array([0]))
        self.open[(0, 0)].append((ids, root))

    def _new(self, keys, g, parent, action, correct, floor) -> np.ndarray:
        ids = np.arange(len(self.g), len(self.g) + len(keys))
        self.g.extend([g] * len(keys))
        self.floor.extend(floor.tolist())
        self.parent.extend(parent.tolist())
        self.action.extend(action.tolist())
        self.correct.extend(correct.tolist())
        for k, i in zip(keys.tolist(), ids.tolist()):
            self.best[k] = i
        return ids

    @property
    def open_size(self) -> int:
        return sum(len(ids) for parts in self.open.values() for ids, _ in parts)

    def lowest(self) -> tuple[int, int] | None:
        """The (f, g) bucket to expand next: least f (the order's priority), then most g (fewest
        g with `every`); with order "deep", the deepest bucket whose f is within `slack` of the
        budget first (then least f: the search stays complete below the budget)."""
        if not self.open:
            return None
        if self.order == "deep":
            near = [b for b in self.open if b[0] <= self.budget + self.slack]
            if near:
                return max(near, key=lambda b: (b[1], -b[0]))
        f = min(f for f, _ in self.open)
        gs = [g for ff, g in self.open if ff == f]
        return f, (min(gs) if self.every else max(gs))

    def pop(self, bucket, limit: int) -> tuple[np.ndarray, Nodes]:
        """Up to `limit` nodes of a bucket (stale ones, superseded by a shorter way, and those whose
        g + bound exceeds the budget dropped)."""
        parts, out, n = self.open[bucket], [], 0
        while parts and n < limit:
            ids, nodes = parts.pop()
            if n + len(ids) > limit:
                cut = limit - n
                parts.append((ids[cut:], take(nodes, slice(cut, None))))
                ids, nodes = ids[:cut], take(nodes, slice(0, cut))
            out.append((ids, nodes))
            n += len(ids)
        if not parts:
            del self.open[bucket]
        ids = np.concatenate([i for i, _ in out])
        nodes = concat([x for _, x in out])
        floors = [self.floor[i] for i in ids.tolist()]
        self.open_floors.subtract(floors)
        live = np.array([self.best.get(k) == i and f <= self.budget
                         for k, i, f in zip(self._keys_of(ids), ids.tolist(), floors)], bool)
        return ids[live], take(nodes, live)

    def _keys_of(self, ids):
        return [self.keys[i] for i in ids.tolist()]

    def expand(self, ids: np.ndarray, nodes: Nodes) -> None:
        """Expands a batch of nodes of one g by every legal move into the open list."""
        if not len(ids):
            return
        g = int(nodes.length[0])
        legal, key, bound, dead, correct, rows = self.kernel.expand(nodes)
        self.expanded += len(ids)
        ok = legal & ~dead
        self.generated += int(legal.sum())
        ok &= g + 1 + bound <= self.budget
        self.pruned += int((legal & ~ok).sum())
        pi, ai = np.nonzero(ok)
        if not len(pi):
            return
        keys = (key[pi, ai, 0].astype(np.uint64) << np.uint64(32)) | key[pi, ai, 1].astype(np.uint64)
        floor = g + 1 + bound[pi, ai]
        f = floor if self.order == "exact" else floor + self._extra(rows[pi, ai])
        fresh = np.zeros(len(pi), bool)
        target = np.full(len(pi), -1, np.int64)
        seen: dict[int, int] = {}
        for n, k in enumerate(keys.tolist()):
            if k in seen:                    # a second way to a child of this batch
                target[n] = seen[k]
                continue
            old = self.best.get(k)
            if old is None or self.g[old] > g + 1:
                fresh[n], seen[k] = True, n
            elif self.g[old] == g + 1:
                target[n] = -2 - old         # an existing node, as short
        self.duplicates += int((~fresh).sum())
        new = np.nonzero(fresh)[0]
        new_ids = self._new(keys[new], g + 1, ids[pi[new]], ai[new], correct[pi[new], ai[new]], floor[new])
        self.keys.extend(keys[new].tolist())
        children = self.kernel.step(take(nodes, pi[new]), ai[new])
        for fv in np.unique(f[new]):
            sel = f[new] == fv
            self.open[(int(fv), g + 1)].append((new_ids[sel], take(children, sel)))
        self.open_floors.update(floor[new].tolist())
        if self.every:
            node_of = np.full(len(pi), -1, np.int64)
            node_of[new] = new_ids
            same_batch = target >= 0
            node_of[same_batch] = node_of[target[same_batch]]
            existing = target <= -2
            node_of[existing] = -2 - target[existing]
            keep = node_of >= 0
            self.edges.append((node_of[keep], ids[pi[keep]], ai[keep]))

    def proven(self) -> int | None:
        """The least g + bound over open nodes: every program not found yet is at least this long.

        A shortest program's path leaves the expanded nodes at a node that was generated at its
        fewest instructions (its parent was expanded at its fewest), so that node is open and its
        g + bound, a lower bound (`Kernel.judge`), is at most the program's length; stale open
        entries only lower the minimum. None when nothing is open."""
        floors = [f for f, count in self.open_floors.items() if count > 0]
        return min(floors) if floors else None

    def _extra(self, rows: np.ndarray) -> np.ndarray:
        """What order "rows" adds to g + bound: round(weight * log2(rows))."""
        return np.round(self.weight * np.log2(np.maximum(rows, 1))).astype(np.int64)

    def moves(self, node: int) -> list[int]:
        """The moves from the empty program to a node, along its first parents."""
        out = []
        while self.parent[node] >= 0:
            out.append(self.action[node])
            node = self.parent[node]
        return out[::-1]

    def _edges(self):
        child, parent, action = (np.concatenate(x) for x in zip(*self.edges))
        return child, parent, action, np.asarray(self.g)

    def counts(self, goals: np.ndarray) -> int:
        """The number of distinct move sequences of the shortest length that reach `goals`.

        ways(node) = the sum of ways(parent) over its edges: every prefix that reaches the
        parent's class at its fewest instructions, extended by the move that matches the edge.
        """
        child, parent, _, g = self._edges()
        ways = np.zeros(len(g), np.float64)   # exact below 2^53, far above any count here
        ways[0] = 1
        for level in range(1, int(g[child].max()) + 1):
            at = g[child] == level
            np.add.at(ways, child[at], ways[parent[at]])
        return int(ways[goals].sum())

    def useful(self, goals: np.ndarray) -> np.ndarray:
        """[nodes] bool: on some shortest path to `goals`."""
        child, parent, _, g = self._edges()
        useful = np.zeros(len(g), bool)
        useful[goals] = True
        for level in range(int(g[child].max()), 0, -1):
            at = (g[child] == level) & useful[child]
            useful[parent[at]] = True
        return useful


def _listing(kernel: Kernel, astar: AStar, goals: np.ndarray, limit: int) -> list[np.ndarray]:
    """Shortest programs as move arrays, level by level: all of them, or the first `limit`.

    The graph's edges are moves of each class's representative; a concrete prefix is a member
    of its class, so its own children are matched to the classes on shortest paths by key.
    """
    useful, g = astar.useful(goals), np.asarray(astar.g)
    keys = np.asarray(astar.keys, np.uint64)
    goal = np.zeros(len(g), bool)
    goal[goals] = True
    moves, nodes, done = np.zeros((1, 0), np.int32), kernel.root(), []
    for level in range(1, int(g[goals].max()) + 1):
        if not len(moves):
            break
        ids = np.nonzero(useful & (g == level))[0]
        order = np.argsort(keys[ids])
        table, ids = keys[ids][order], ids[order]
        legal, key = kernel.expand(nodes)[:2]
        b, a = np.nonzero(legal)
        k = (key[b, a, 0].astype(np.uint64) << np.uint64(32)) | key[b, a, 1].astype(np.uint64)
        at = np.minimum(np.searchsorted(table, k), max(len(table) - 1, 0))
        hit = (table[at] == k) if len(table) else np.zeros(len(k), bool)
        b, a, node = b[hit], a[hit], ids[at[hit]]
        moves = np.concatenate([moves[b], a[:, None].astype(np.int32)], axis=1)
        finished = goal[node]
        done.extend(moves[finished][: max(limit - len(done), 0)])
        keep = np.nonzero(~finished)[0][: max(limit - len(done), 0)]
        moves, nodes = moves[keep], kernel.step(take(nodes, b[keep]), a[keep])
    return done


def check(game: games.Game, options: dict) -> None:
    """Raises ValueError, one line, for a game the kernel cannot image (`kernel.unsupported`), an
    unknown order, or all=true with an order that proves no length."""
    if why := unsupported(game):
        raise ValueError(f"astar: {why}")
    order = options.get("order", "exact")
    if order not in ORDERS:
        raise ValueError(f"--set order={order}: astar's orders are {', '.join(ORDERS)}")
    if order != "exact" and options.get("all"):
        raise ValueError(f"--set all=true needs order=exact: order={order} proves no length")


def search(game: games.Game, log: SearchLog, *, seconds: float, seed: int, all: bool = False,  # noqa: A002
           chunk: int = 128, batch: int = 1024, limit: int = 5000, rank: int = 200,
           keep: int = 5, order: str = "exact", weight: float = 2.5, guided_batch: int = 256,
           budget: int = 0, slack: int = 4, collect: int = 0) -> None:
    """Runs A* until the shortest program is recorded (with `all`: every one counted and ranked).

    With order "rows" (`AStar`), it records the first correct program it pops, not proven
    shortest, then goes on as a branch and bound (`_guided`).

    Args:
      game: a fixed sort game (`kernel.unsupported` says why another is not); log: the run.
      seconds: the time budget, compilation included.
      seed: unused; A* is deterministic.
      all: enumerate every shortest program, count them, rank them by the cycle model and
        llvm-mca.
      chunk: parents per compiled call; batch: nodes popped per expansion step.
      limit: with `all`, list at most this many programs (in move order); rank: run llvm-mca on
        the best this many of them by the cycle model; keep: write the fastest `keep` as
        records in alternatives/.
      order: "exact", "rows" or "deep" (`AStar`); weight: orders "rows" and "deep"'s
        instructions per halving of the rows; guided_batch: nodes popped per step with those
        orders (fewer than `batch`: the search follows the estimate more closely).
      budget: the most instructions a program may have (0: the game's `max_length`, or with
        order "deep" the run's target length where it has one). slack: order "deep"'s reach
        above the budget.
      collect: with orders "rows" and "deep", go on at the best length until this many
        distinct correct programs of it are in candidates.jsonl (or time is up).
    """
    del seed
    start = time.perf_counter()
    kernel = Kernel(game, chunk=chunk, estimate=order != "exact")
    kernel.expand(kernel.root())                       # compiles
    compile_s = time.perf_counter() - start
    if not budget:   # order deep dives within reach of the length sought: the run's target
        budget = (log.target_length if order == "deep" else 0) or game.config.max_length
    astar = AStar(kernel, budget=budget, every=all, order=order, weight=weight, slack=slack)
    log.say(f"compiled in {compile_s:.1f} s; budget {budget} instructions; symmetries: registers "
            f"{kernel.symmetric_registers}, compare orientation {kernel.symmetric_flags}; order {order}"
            + (f", weight {weight:g}" if order != "exact" else ""))
    if order != "exact":
        return _guided(game, astar, log, seconds=seconds, batch=guided_batch, compile_s=compile_s, collect=collect)
    search_start, goals, shortest, found = time.perf_counter(), [], None, None
    while log.elapsed < seconds:
        bucket = astar.lowest()
        if bucket is None or (shortest is not None and bucket[0] > shortest):
            break
        ids, nodes = astar.pop(bucket, batch)
        if not len(ids):
            continue
        hits = np.asarray(astar.correct)[ids]
        if hits.any():
            goals.extend(ids[hits].tolist())
            if shortest is None:
                shortest, found = bucket[0], time.perf_counter() - search_start
                _offer(game, log, astar.moves(int(ids[hits][0])))
                log.say(f"shortest: {shortest} instructions after {found:.2f} s of search "
                        f"({astar.expanded} nodes expanded)")
                if not all:
                    break
            ids, nodes = ids[~hits], take(nodes, ~hits)
            if not len(ids):
                continue
        before = astar.duplicates
        astar.expand(ids, nodes)
        log.log(explored=astar.expanded, frontier=astar.open_size, f=bucket[0], g=bucket[1],
                dedup_hits=astar.duplicates - before, generated=astar.generated, pruned=astar.pruned,
                search_s=round(time.perf_counter() - search_start, 3), compile_s=round(compile_s, 3))
    if shortest is None:
        log.say(f"no program within {budget} instructions found" if astar.lowest() is None
                else f"stopped after {log.elapsed:.0f} s; every program is longer than {astar.lowest()[0] - 1}")
        return
    if all:
        _all(game, kernel, astar, log, np.array(goals), shortest, limit=limit, rank=rank, keep=keep)


def _guided(game: games.Game, astar: AStar, log: SearchLog, *, seconds: float, batch: int,
            compile_s: float, collect: int) -> None:
    """Orders "rows" and "deep" as a branch and bound: each correct program popped that is
    shorter than the best is recorded, not proven shortest, and the budget drops below it (to
    it with `collect`, and every correct program as long as the best is then a candidate). It
    stops at the run's target length (with `collect` candidates of the best length), when time
    is up, or when nothing is open: then no shorter program exists (every node that could lead
    to one was expanded or pruned by its lower bound)."""
    start, collected = time.perf_counter(), set()   # the programs of the best length made candidates
    while log.elapsed < seconds and not (log.done() and len(collected) >= collect):
        bucket = astar.lowest()
        if bucket is None:
            break
        ids, nodes = astar.pop(bucket, batch)
        if not len(ids):
            continue
        hits = np.asarray(astar.correct)[ids]
        if hits.any():
            found = sorted((astar.moves(int(i)) for i in ids[hits]), key=len)
            if log.better(len(found[0])):
                _offer(game, log, found[0], note=f"order={astar.order}, not proven shortest when recorded")
                astar.budget, collected = len(found[0]) - (0 if collect else 1), set()
                log.say(f"{len(found[0])} instructions after {time.perf_counter() - start:.2f} s of search "
                        f"({astar.expanded} nodes expanded); not proven shortest: every program is at least "
                        f"{_lower(astar, log)} instructions")
            for moves in (found if collect else []):
                if len(moves) == log.best_length and tuple(moves) not in collected:
                    log.candidate(paths.program_of(game.task.vocabulary, np.asarray(moves)))
                    collected.add(tuple(moves))
            ids, nodes = ids[~hits], take(nodes, ~hits)
        before = astar.duplicates
        astar.expand(ids, nodes)
        log.log(explored=astar.expanded, frontier=astar.open_size, f=bucket[0], g=bucket[1],
                dedup_hits=astar.duplicates - before, generated=astar.generated, pruned=astar.pruned,
                lower_bound=_lower(astar, log), search_s=round(time.perf_counter() - start, 3),
                compile_s=round(compile_s, 3))
    if astar.lowest() is None:
        log.say(f"proven shortest: {log.best_length} instructions (nothing shorter is open)" if log.best
                else f"no program within {astar.budget} instructions found")
    else:
        found = f"best {log.best_length}, not proven shortest" if log.best else "no program found"
        log.say(f"stopped after {log.elapsed:.0f} s; {found}: every program is at least "
                f"{_lower(astar, log)} instructions")


def _lower(astar: AStar, log: SearchLog) -> int:
    """A proven lower bound on the length of every correct program (`AStar.proven`, the best)."""
    bounds = [b for b in (astar.proven(), log.best_length) if b is not None]
    return min(bounds) if bounds else astar.budget + 1


def _offer(game: games.Game, log: SearchLog, moves: list[int], note: str = "") -> None:
    """Scores the program of `moves` on Unicorn and records it (with `note` in its source); the
    kernel judged it correct, so a disagreement is a bug of the kernel (tests hold it to
    `Game.step`)."""
    program = paths.program_of(game.task.vocabulary, np.asarray(moves))
    score = game.task.score(program, "unicorn", cycles=False)
    if not score.correct:
        raise games.MachineDisagreement(f"astar: Unicorn judges a program the kernel found correct wrong "
                                        f"({score.reason}):\n" + isa.to_text(program))
    log.record(program, executed=score.executed, note=note)


def _all(game, kernel, astar, log, goals, shortest, *, limit, rank, keep):
    """Counts the shortest programs, lists up to `limit`, ranks them by the cycle model (every
    listed one, each written to candidates.jsonl for `alphadev rerank` to time natively), then
    the `rank` best by llvm-mca, and writes the `keep` fastest to alternatives/."""
    count = astar.counts(goals)
    log.say(f"{count} shortest programs of {shortest} instructions ({len(goals)} final states)")
    listed = _listing(kernel, astar, goals, limit)
    programs = [paths.program_of(game.task.vocabulary, m) for m in listed]
    models = [game.model_cycles(p) for p in programs]
    order = sorted(range(len(programs)), key=lambda i: models[i])
    for i in order:
        log.candidate(programs[i], models[i])
    log.say(f"listed {len(programs)}, ranked by the cycle model; llvm-mca on the {min(rank, len(programs))} best")
    ranked, mca = [], True
    for i in order[:rank]:
        cycles = math.inf   # without llvm-mca, the model's order alone
        if mca:
            try:
                cycles = isa.latency.cycles(programs[i])
            except (isa.latency.McaUnavailable, ValueError) as e:
                log.say(f"no llvm-mca ranking ({e})")
                mca = False
        ranked.append((models[i], cycles, i))
    ranked.sort()
    files = []
    for model, cycles, i in ranked[:keep]:
        score = game.task.score(programs[i], "unicorn", cycles=False)
        if not score.correct:
            raise games.MachineDisagreement(f"astar: Unicorn judges a listed program wrong ({score.reason}):\n"
                                            + isa.to_text(programs[i]))
        files.append(log.alternative(programs[i], executed=score.executed, model_cycles=model,
                                     cycles=None if cycles == math.inf else int(cycles)).name)
    best = ranked[:keep]
    (log.run.path / "alternatives.json").write_text(json.dumps(dict(
        length=shortest, count=count, final_states=len(goals), listed=len(programs), ranked=len(ranked),
        ranked_by="model cycles, then llvm-mca cycles", mcpu="skylake",
        model_cycles=[m for m, _, _ in best], cycles=[None if c == math.inf else int(c) for _, c, _ in best],
        files=files), indent=1) + "\n")
    if best:
        mca = "-" if best[0][1] == math.inf else f"{best[0][1]:g}"
        log.say(f"fastest by the cycle model: {best[0][0]:g} model cycles, llvm-mca {mca} "
                f"(alternatives/{files[0]}); time the best natively: alphadev rerank {log.run.path}")
