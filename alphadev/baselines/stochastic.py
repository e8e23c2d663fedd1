"""AlphaDev-S: STOKE-style Markov chain Monte Carlo over whole programs.

As the AlphaDev paper's AlphaDev-S baseline (Mankowitz et al., Nature 2023, Methods; after
STOKE, Schkufza et al., ASPLOS 2013): a chain holds one program and repeatedly proposes a small
random change to it, accepting the proposal with the Metropolis probability
min(1, exp(-beta x (cost' - cost))), with

    cost = alpha x length + (0 for a correct program, else
                             1 - items + shaping x (most - potential))

where items is the task's own judgement of the program (`Task.jax_judge`: the weighted fraction
of correct output items, in [0, 1]) on the task's search inputs, and potential is the game's
shaping potential (`Game.shaping`: the task's potentials its config names, each in [0, 1], with
`most` the sum of their weights; 0 for a game without any), the finer correctness signal the
task exposes in place of STOKE's bit-level error. The potential enters as what is still missing
of it, so every incorrect program costs more than any correct one of its length (the sorts'
potential credits values computed in registers and not yet stored: subtracted as it stands, a
program that stores nothing would cost less than a correct one). With `shaping=0` the cost is
AlphaDev-S's items alone.

A program is a packed array of vocabulary items, at most `max_length` long. The moves, each
drawn with equal probability: add an instruction at a random place, delete one, swap two,
change an instruction's opcode (another vocabulary item with the same operands), change one of
its operands (another item with the same mnemonic differing in exactly one operand), and
replace one by a random vocabulary item. A move that cannot apply (deleting from the empty program, an instruction
with no opcode neighbour, ...) proposes the program unchanged, and counts as not accepted.

Programs need not follow the game's legality rules: the JAX machine judges any program of
the subset, and one that reads an undefined flag or a register it never wrote faults or
computes garbage and is judged incorrect. Moves are straight-line only: a task's `Jump` and
`PlaceLabel` items are left out of the move vocabulary (a branchy task is searched over its
straight-line programs, and a warm start from a branchy record is a one-line error).

Many chains run in parallel, batched in JAX: `steps` proposals per chain per compiled call,
each evaluated by running the whole proposed program on every search input with the JAX
machine (`isa.jax_machine.step`, scanned over positions, vmapped over inputs and chains). Every
proposal evaluated, accepted or not, that is correct and shorter than anything seen is kept;
the host confirms it on Unicorn before recording it.

Cold start: every chain begins at the empty program (`init="empty"`) or at a random program of
random length (`init="random"`). Warm start (`from=RECORD`): every chain begins at the record's
program, and only strictly shorter programs are recorded.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

import games
import isa
from alphadev.baselines.log import SearchLog
from isa import jax_machine as jm

__all__ = ["search", "method", "check", "Moves", "make_moves", "make_evaluate", "make_chains", "propose",
           "start_program", "MOVES"]

MOVES = ("add", "delete", "swap", "opcode", "operand", "replace")
EMPTY = -1  # a program slot past the end


class Moves(NamedTuple):
    """The move vocabulary of a game, as arrays the proposal can index.

    Attributes:
      instructions: [N] int32 the game's actions that are straight-line instructions.
      opcode: [A, K] int32 per action, the actions with the same operands and another mnemonic
        (padded with -1); opcode_count: [A] how many.
      operand: [A, K'] int32 per action, the actions with the same mnemonic and exactly one
        operand different (padded with -1); operand_count: [A] how many.
    """
    instructions: jax.Array
    opcode: jax.Array
    opcode_count: jax.Array
    operand: jax.Array
    operand_count: jax.Array


def _neighbours(items: list, related) -> tuple[np.ndarray, np.ndarray]:
    """([A, K] padded indices, [A] counts) of the items `related(a, b)` to each item."""
    lists = [[b for b, y in enumerate(items) if y is not None and x is not None and b != a and related(x, y)]
             for a, x in enumerate(items)]
    width = max(1, max(len(n) for n in lists))
    table = np.full((len(items), width), -1, np.int32)
    for a, n in enumerate(lists):
        table[a, :len(n)] = n
    return table, np.array([len(n) for n in lists], np.int32)


def _same_operands(x: isa.Instruction, y: isa.Instruction) -> bool:
    return x.operands == y.operands and x.mnemonic != y.mnemonic


def _one_operand_differs(x: isa.Instruction, y: isa.Instruction) -> bool:
    return (x.mnemonic == y.mnemonic and len(x.operands) == len(y.operands)
            and sum(a != b for a, b in zip(x.operands, y.operands)) == 1)


def make_moves(game: games.Game) -> Moves:
    """The move vocabulary of `game`: its straight-line instructions and their neighbours."""
    items = [item if isinstance(item, isa.Instruction) else None for item in game.task.vocabulary]
    instructions = np.array([a for a, item in enumerate(items) if item is not None], np.int32)
    if not len(instructions):
        raise ValueError(f"{game.task.name}: the vocabulary has no straight-line instruction to search over")
    opcode, opcode_count = _neighbours(items, _same_operands)
    operand, operand_count = _neighbours(items, _one_operand_differs)
    return Moves(*(jnp.asarray(x) for x in (instructions, opcode, opcode_count, operand, operand_count)))


def _insert(program, position, value):
    k = jnp.arange(program.shape[0])
    shifted = jnp.concatenate([program[:1], program[:-1]])
    return jnp.where(k < position, program, jnp.where(k == position, value, shifted))


def _delete(program, position):
    k = jnp.arange(program.shape[0])
    shifted = jnp.concatenate([program[1:], jnp.full(1, EMPTY, program.dtype)])
    return jnp.where(k < position, program, shifted)


def _neighbour(key, table, count, action):
    """A random entry of `table[action]`, or `action` itself when it has none."""
    pick = jax.random.randint(key, (), 0, jnp.maximum(count[action], 1))
    return jnp.where(count[action] > 0, table[action, pick], action)


def propose(key: jax.Array, program: jax.Array, moves: Moves) -> jax.Array:
    """One random move applied to one packed program ([L] int32 actions, -1 past the end).

    Returns:
      The proposed program, packed, of length at most L (the program itself when the move
      drawn cannot apply).
    """
    keys = jax.random.split(key, 6)
    size = program.shape[0]
    length = jnp.sum(program != EMPTY)
    kind = jax.random.randint(keys[0], (), 0, len(MOVES))
    at = jax.random.randint(keys[1], (), 0, jnp.maximum(length, 1))  # an instruction of the program
    other = jax.random.randint(keys[2], (), 0, jnp.maximum(length, 1))
    gap = jax.random.randint(keys[3], (), 0, length + 1)  # a place to insert, end included
    fresh = moves.instructions[jax.random.randint(keys[4], (), 0, moves.instructions.shape[0])]
    current = program[at]
    swapped = program.at[at].set(program[other]).at[other].set(current)
    candidates = [
        jnp.where(length < size, _insert(program, gap, fresh), program),
        jnp.where(length > 0, _delete(program, at), program),
        jnp.where(length > 1, swapped, program),
        program.at[at].set(_neighbour(keys[5], moves.opcode, moves.opcode_count, jnp.maximum(current, 0))),
        program.at[at].set(_neighbour(keys[5], moves.operand, moves.operand_count, jnp.maximum(current, 0))),
        program.at[at].set(fresh),
    ]
    proposal = jax.lax.select_n(kind, *candidates)
    # Changing or replacing an instruction of the empty program changes nothing.
    return jnp.where(length > 0, proposal, jax.lax.select_n(jnp.minimum(kind, 1), *candidates[:2]))


def make_evaluate(game: games.Game):
    """Pure JAX: packed programs [C, L] -> ([C] items, [C] correct, [C] potential).

    Every program runs on every search input of the game on the JAX machine, as the game would
    run it instruction by instruction (including its check that an input touches no slot past
    its limit), but with no legality rule: any straight-line program of the vocabulary runs.
    items and correct are the task's own judgement (`Task.jax_judge`); potential is the game's
    shaping potential (`Game.shaping`, the task's potentials its config names; 0 without any)
    of the final machine state.
    """
    table = game.table
    tokens = jnp.asarray(np.concatenate([table.tokens, np.zeros((1, jm.N_FIELDS), np.int32)]))
    load = jnp.asarray(np.concatenate([table.load_slot, [-1]]))
    store = jnp.asarray(np.concatenate([table.store_slot, [-1]]))
    limits = jnp.asarray(game.slot_limits)
    slots = jnp.arange(game.slot_count)
    start = jax.vmap(jm.init)(jnp.asarray(game.registers), jnp.asarray(game.memory))

    def one(program):
        index = jnp.where(program == EMPTY, tokens.shape[0] - 1, program)

        def body(carry, xs):
            machine, outside = carry
            k, position = xs
            here = (machine.pc == position) & (machine.fault == jm.FAULT_NONE) & (program[position] != EMPTY)
            outside = outside | (here & (jnp.maximum(load[k], store[k]) >= limits))
            machine = jax.vmap(lambda m: jm.step(m, tokens[k], position, ops=game.ops))(machine)
            return (machine, outside), None

        positions = jnp.arange(program.shape[0], dtype=jnp.int32)
        (machine, outside), _ = jax.lax.scan(body, (start, jnp.zeros(game.num_inputs, bool)), (index, positions))
        items, correct = game.task.jax_judge(machine, outside)
        loaded = jnp.any(load[index][:, None] == slots, axis=0)
        stored = jnp.any(store[index][:, None] == slots, axis=0)
        return items, correct, game.shaping(machine, loaded, stored).astype(jnp.float32)

    return jax.vmap(one)


class Chains(NamedTuple):
    """The state of C chains ([C, ...] each)."""
    program: jax.Array   # [C, L] int32 the current programs
    cost: jax.Array      # [C] float32 their cost
    items: jax.Array     # [C] float32 their items
    best: jax.Array      # [C, L] the shortest correct program each chain has evaluated
    best_length: jax.Array  # [C] int32 its length (L + 1: none shorter than the bound yet)


def cost_of(items, correct, potential, length, *, alpha: float, shaping: float, most: float):
    """[C] the chains' cost: alpha per instruction, plus for an incorrect program the items it
    misses and `shaping` x the potential it misses (`most`: the potential's largest value)."""
    missing = 1.0 - items + shaping * jnp.maximum(most - potential, 0.0)
    return jnp.where(correct, 0.0, missing) + alpha * length.astype(jnp.float32)


def most_potential(game: games.Game) -> float:
    """The largest shaping potential of `game`: its weights' sum (each potential is in [0, 1])."""
    return float(sum(weight for _, weight in game.shaping.terms))


def make_chains(game: games.Game, *, moves: Moves, alpha: float, beta: float, shaping: float, steps: int):
    """jit: (Chains, key) -> (Chains, stats), `steps` Metropolis steps of every chain.

    stats: accepted ([] proposals accepted that changed the program), lowest_cost ([] the lowest
    current cost over the steps), best_items ([] the highest items of any proposal).
    """
    evaluate = make_evaluate(game)
    most = most_potential(game)

    def step(chains: Chains, key):
        n = chains.program.shape[0]
        k_move, k_accept = jax.random.split(key)
        proposal = jax.vmap(propose, in_axes=(0, 0, None))(jax.random.split(k_move, n), chains.program, moves)
        items, correct, potential = evaluate(proposal)
        length = jnp.sum(proposal != EMPTY, axis=1).astype(jnp.int32)
        cost = cost_of(items, correct, potential, length, alpha=alpha, shaping=shaping, most=most)
        # Metropolis: accept with probability min(1, exp(-beta x (cost' - cost))).
        accept = jnp.log(jax.random.uniform(k_accept, (n,))) < -beta * (cost - chains.cost)
        changed = jnp.any(proposal != chains.program, axis=1)
        shorter = correct & (length < chains.best_length)
        new = Chains(program=jnp.where(accept[:, None], proposal, chains.program),
                     cost=jnp.where(accept, cost, chains.cost), items=jnp.where(accept, items, chains.items),
                     best=jnp.where(shorter[:, None], proposal, chains.best),
                     best_length=jnp.where(shorter, length, chains.best_length))
        return new, (jnp.sum(accept & changed), jnp.min(new.cost), jnp.max(items))

    def run(chains: Chains, key):
        chains, (accepted, lowest, items) = jax.lax.scan(step, chains, jax.random.split(key, steps))
        return chains, dict(accepted=jnp.sum(accepted), lowest_cost=jnp.min(lowest), best_items=jnp.max(items))

    return jax.jit(run), jax.jit(evaluate)


def start_program(game: games.Game, path: str, max_length: int) -> np.ndarray:
    """The packed program [max_length] of the record at `path`, for a warm start.

    Raises:
      ValueError: one line, naming the file and the problem.
    """
    from alphadev import results
    try:
        record = results.load(path, game.task.name)
    except results.RecordError as e:
        raise ValueError(f"--set from: {e}") from None
    problem = None
    if record.game != game.task.name:
        problem = f"the record is a {record.game} program, not {game.task.name}"
    elif any(ins.target is not None for ins in record.program):
        problem = "it jumps, and the stochastic search moves straight-line programs only"
    elif len(record.program) > max_length:
        problem = f"{len(record.program)} instructions, more than max_length {max_length}"
    else:
        try:
            actions = game.moves_for(record.program)
        except ValueError as e:
            problem = str(e)
    if problem:
        raise ValueError(f"--set from={path}: {problem}")
    out = np.full(max_length, EMPTY, np.int32)
    out[:len(actions)] = actions
    return out


def _length(game: games.Game, max_length: int) -> int:
    return max_length or game.config.max_length


def check(game: games.Game, options: dict) -> None:
    """The options' problems as one-line errors, before any run directory is written."""
    if options.get("init", "empty") not in ("empty", "random"):
        raise ValueError(f"--set init={options['init']}: init is empty or random")
    for name in ("chains", "steps"):
        if name in options and options[name] < 1:
            raise ValueError(f"--set {name}={options[name]}: {name} must be at least 1")
    if options.get("from"):
        start_program(game, options["from"], _length(game, options.get("max_length", 0)))


def _initial(game: games.Game, moves: Moves, *, chains: int, max_length: int, init: str, start: Optional[np.ndarray],
             rng: np.random.Generator) -> np.ndarray:
    programs = np.full((chains, max_length), EMPTY, np.int32)
    if start is not None:
        programs[:] = start
    elif init == "random":
        vocabulary = np.asarray(moves.instructions)
        for c, n in enumerate(rng.integers(0, max_length + 1, chains)):
            programs[c, :n] = rng.choice(vocabulary, n)
    return programs


def search(game: games.Game, log: SearchLog, *, seconds: float, seed: int, chains: int = 32, beta: float = 100.0,
           alpha: float = 0.005, shaping: float = 0.5, max_length: int = 0, steps: int = 256,
           init: str = "empty", start: str = "") -> None:
    """Runs the chains until the target is recorded or `seconds` are spent.

    Args:
      game: the game (its task, vocabulary and search inputs; its legality rules are not used).
      log: where programs and metrics go.
      seconds: the time budget.
      seed: the chains' key.
      chains: chains run in parallel.
      beta: inverse temperature of the Metropolis acceptance.
      alpha: cost per instruction, in units of the item fraction.
      shaping: weight of the game's shaping potential in the cost (0: the items alone). Below
        1, storing a value computed in a register lowers the cost (the sorts' potential moves
        its credit to the items at half the weight).
      max_length: the longest program (0: the game's max_length).
      steps: proposals per chain per compiled call (chains x steps proposals per call).
      init: cold start from the "empty" program or "random" programs of random length.
      start: a record to warm-start every chain from ("" for a cold start).
    """
    check(game, {"init": init, "chains": chains, "steps": steps})
    max_length = _length(game, max_length)
    moves = make_moves(game)
    begin = start_program(game, start, max_length) if start else None
    programs = _initial(game, moves, chains=chains, max_length=max_length, init=init, start=begin,
                        rng=np.random.default_rng(seed))
    run, evaluate = make_chains(game, moves=moves, alpha=alpha, beta=beta, shaping=shaping, steps=steps)
    items, correct, potential = evaluate(jnp.asarray(programs))
    lengths = (programs != EMPTY).sum(axis=1)
    # Warm: only programs shorter than the start count. Cold: any correct one does.
    bound = int(lengths[0]) if begin is not None and bool(correct[0]) else max_length + 1
    state = Chains(program=jnp.asarray(programs), cost=cost_of(items, correct, potential, jnp.asarray(lengths), alpha=alpha,
                                                        shaping=shaping, most=most_potential(game)),
                   items=items, best=jnp.asarray(programs), best_length=jnp.full(chains, bound, jnp.int32))
    log.saw(float(jnp.max(items)))
    if begin is not None:
        log.say(f"warm start from {start}: {int(lengths[0])} instructions, "
                f"{'correct' if bool(correct[0]) else 'incorrect'} (items {float(items[0]):.4f})")
    key, proposals = jax.random.PRNGKey(seed), 0
    while not log.done() and log.elapsed < seconds:
        key, sub = jax.random.split(key)
        state, stats = run(state, sub)
        stats, best_length = jax.device_get((stats, state.best_length))
        proposals += chains * steps
        log.saw(stats["best_items"])
        shortest = int(np.argmin(best_length))
        if best_length[shortest] < bound and log.better(int(best_length[shortest])):
            _confirm(game, log, np.asarray(state.best[shortest]))
        log.log(explored=proposals, acceptance=float(stats["accepted"]) / (chains * steps),
                best_cost=float(stats["lowest_cost"]), proposals_per_s=proposals / max(log.elapsed, 1e-9))


def _confirm(game: games.Game, log: SearchLog, packed: np.ndarray) -> None:
    """Scores a program the JAX machine judged correct on Unicorn, and records it."""
    program = isa.Program(tuple(game.task.vocabulary[int(a)] for a in packed if a != EMPTY))
    score = game.task.score(program, "unicorn", cycles=False)
    if not score.correct:
        raise games.MachineDisagreement(f"{game.task.name}: the JAX machine judged this program correct, Unicorn "
                                        f"did not ({score.reason}):\n{isa.to_text(program)}")
    log.record(program, executed=score.executed)


def method(game: games.Game, log: SearchLog, *, seconds: float, seed: int, **options) -> None:
    """`search` under the CLI's option names (`from` is a Python keyword, so it is `start` there)."""
    start = options.pop("from", "")
    search(game, log, seconds=seconds, seed=seed, start=start, **options)

