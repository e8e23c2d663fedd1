"""Counts the shortest sort3 programs under Ullrich & Hack's conventions, for comparison with
their 5,602 (CGO 2025).

They count 11-instruction cores (mov, cmp, cmovl, cmovg between 4 registers) that take the
values in registers 1-3 to the sorted values in registers 1-3, with each compare written one
way round only. In our game the same kernels are 17 instructions: three loads in order, the
core, three stores. This runs A* with every shortest edge kept, under loads_in_order and without
the search's register and compare-orientation symmetries (so that states are concrete), then
counts the programs that write each compare with the lower register first and end by storing
eax, ecx and edx to slots 0, 1 and 2 in that order: one program per U&H core.

    PYTHONPATH=. python experiments/astar_count_sort3.py
"""
import dataclasses
import time

import numpy as np

import games
import isa
from alphadev.baselines.astar import AStar
from alphadev.baselines.kernel import CMP, Kernel, take
from games.sort import SortTask


class PermutationsOnly(SortTask):
    """sort3 judged on the 6 orders of distinct values only, as Ullrich & Hack judge it."""

    def _data(self):
        values, counts = super()._data()
        keep = np.array([len(set(v)) == self.n for v in values])
        return values[keep], counts[keep]


def count(task, **rules):
    config = dataclasses.replace(task.config, rules=dataclasses.replace(task.config.rules, loads_in_order=True, **rules))
    game = games.Game(task, config)
    kernel = Kernel(game, chunk=128)
    kernel.symmetric_registers = kernel.symmetric_flags = False
    start = time.perf_counter()
    astar, goals = AStar(kernel, budget=17, every=True), []
    while astar.lowest() is not None:
        ids, nodes = astar.pop(astar.lowest(), 4096)
        hits = np.asarray(astar.correct)[ids]
        goals += ids[hits].tolist()
        if (~hits).any():
            astar.expand(ids[~hits], take(nodes, ~hits))
    total = astar.counts(np.array(goals))
    child, parent, action, g = astar._edges()
    # U&H write each compare one way round (cmp i, j with i < j): drop the other orientation.
    upright = ~((kernel.kind[action] == CMP) & (kernel.src[action] > kernel.other[action]))
    child, parent, action = child[upright], parent[upright], action[upright]
    ways = np.zeros(len(g))
    ways[0] = 1
    for level in range(1, int(g.max()) + 1):
        at = g[child] == level
        np.add.at(ways, child[at], ways[parent[at]])
    # Programs that end by storing eax, ecx, edx to slots 0, 1, 2, in that order: the cores that
    # leave the sorted values in the registers the values were loaded into.
    store = {k: game.moves_for(isa.parse(f"mov dword ptr [rdi+{4 * k}], {r}"))[0]
             for k, r in enumerate(("eax", "ecx", "edx"))}
    ends = set(np.array(goals).tolist())
    for k in (2, 1, 0):
        ends = set(parent[np.isin(child, list(ends)) & (action == store[k])].tolist())
    fixed = ways[list(ends)].sum()
    print(f"  shortest sort3 programs, loads in order, no symmetry merged: {total}; "
          f"with compares one way round, ending eax, ecx, edx -> slots 0, 1, 2: {fixed:.0f}; "
          f"search {time.perf_counter() - start:.0f} s")


def main():
    print("inputs: every order with ties (the game's 13)")
    count(SortTask(3))
    print("inputs: the 6 orders of distinct values only")
    count(PermutationsOnly(3))
    print("inputs: the 6 orders; the temporary may be read before it is written (U&H's starts at 0;")
    print("        the image holds 0 for an unwritten register, below every value)")
    count(PermutationsOnly(3), defined_registers=False)


if __name__ == "__main__":
    main()
