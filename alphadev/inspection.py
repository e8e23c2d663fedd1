"""Looking inside a program: listing, per-input trace, dataflow. Used by the notebook and
`alphadev show`."""
from __future__ import annotations

import dataclasses

import jax
import numpy as np

import isa
from games.actions import registers_used
from isa import flags as fl
from isa import jax_machine as jm
from isa import u64


@dataclasses.dataclass
class Line:
    index: int
    offset: int
    code: bytes
    source: str
    capstone: str
    label: str | None


def listing(program: isa.Program) -> list[Line]:
    """Each instruction with its offset, bytes, source text and capstone's reading of the bytes."""
    code = isa.assemble(program)
    decoded = isa.disassemble(code)
    offsets = isa.encoding.offsets(code)
    ends = offsets[1:] + [len(code)]
    labels = program.label_names()
    return [Line(i, start, code[start:end], isa.format_instruction(ins, labels),
                 isa.format_instruction(back, labels), labels.get(i))
            for i, (ins, back, start, end) in enumerate(zip(program, decoded, offsets, ends))]


def trace(program: isa.Program, inputs: isa.Inputs, which: int = 0) -> list[dict]:
    """Machine state of input `which` after each instruction (the JAX machine, step by step).

    Returns:
      One dict per instruction: index, text, ran (the input's program counter was there),
      registers {name: value} for the registers the program touches, memory (bytes), flags.
    """
    one = isa.Inputs(inputs.registers[which:which + 1], inputs.memory[which:which + 1])
    machine = jax.vmap(jm.init)(u64.split(one.registers), one.memory)
    step = jax.jit(jax.vmap(jm.step, in_axes=(0, None, None)))
    touched = sorted({r for ins in program if ins.target is None for r in set().union(*registers_used(ins))})
    labels = program.label_names()
    rows = []
    for k, ins in enumerate(program):
        ran = int(machine.pc[0]) == k and int(machine.fault[0]) == 0
        machine = step(machine, jm.encode(ins), k)
        regs = u64.join(np.asarray(machine.regs[0]))
        rows.append(dict(index=k, text=isa.format_instruction(ins, labels), ran=ran,
                         registers={isa.REGISTERS_64[r]: int(regs[r]) for r in touched},
                         memory=bytes(np.asarray(machine.memory[0, :-8])),
                         flags={f: bool(v) for f, v, d in zip(fl.FLAGS, np.asarray(machine.flags[0]),
                                                             np.asarray(machine.defined[0])) if d}))
    return rows


def dataflow(program: isa.Program) -> list[tuple[int, int, str]]:
    """(producer, consumer, what) edges: registers, flags and memory addresses, in program order."""
    last_write: dict[str, int] = {}
    edges = []
    for k, ins in enumerate(program):
        reads, writes = set(), set()
        if ins.target is None:
            r, w = registers_used(ins)
            reads |= {isa.REGISTERS_64[n] for n in r}
            writes |= {isa.REGISTERS_64[n] for n in w}
        if fl.flags_read(ins):
            reads.add("flags")
        if any(fl.flags_written(ins)):
            writes.add("flags")
        mem = ins.memory
        if mem is not None and ins.mnemonic != "lea":
            where = isa.syntax.format_operand(mem, {}).split("ptr ")[-1]
            is_store = isinstance(ins.operands[0], isa.Mem) and ins.mnemonic != "cmp"
            (writes if is_store else reads).add(where)
            if is_store and ins.mnemonic != "mov":
                reads.add(where)
        for name in sorted(reads):
            if name in last_write:
                edges.append((last_write[name], k, name))
        for name in writes:
            last_write[name] = k
    return edges


def plot_dataflow(program: isa.Program, ax) -> None:
    """Instructions top to bottom, an arc from each producer to each consumer."""
    n = len(program)
    labels = program.label_names()
    colours = {"flags": "tab:red"}
    for k, ins in enumerate(program):
        ax.text(0.02, -k, f"{k:>2}  {isa.format_instruction(ins, labels)}", va="center", family="monospace", fontsize=8)
    for a, b, what in dataflow(program):
        colour = colours.get(what, "tab:green" if "[" in what else "tab:blue")
        depth = 0.02 + 0.04 * (b - a)
        ax.annotate("", xy=(-0.01, -b), xytext=(-0.01, -a),
                    arrowprops=dict(arrowstyle="->", color=colour, lw=0.8,
                                    connectionstyle=f"arc3,rad={min(0.9, depth)}"))
    ax.set_xlim(-0.6, 1.0)
    ax.set_ylim(-n, 1)
    ax.axis("off")
    ax.set_title("dataflow (blue: registers, red: flags, green: memory)", fontsize=9)


# -- the learned policy along a program ---------------------------------------------------------

@dataclasses.dataclass
class PolicyStep:
    """What the network's prior says before one move of a program.

    Attributes:
      index: the move's position; played: its text; played_probability, played_rank (0: the
        prior's favourite); top: the prior's `k` likeliest moves as (text, probability).
    """
    index: int
    played: str
    played_probability: float
    played_rank: int
    top: list[tuple[str, float]]


def action_text(item) -> str:
    """A vocabulary item as text: an instruction, `jl .L1`, or `.L1:` for a label."""
    if isinstance(item, isa.Instruction):
        return isa.format_instruction(item, {})
    if hasattr(item, "mnemonic"):
        return f"{item.mnemonic} .L{item.label}"
    return f".L{item.label}:"


@dataclasses.dataclass
class RunNetwork:
    """A training run's network at one checkpoint (`load_network`)."""
    game: object
    net: object
    observer: object
    params: dict
    step: int
    config: object


def load_network(run) -> "RunNetwork | None":
    """The network of a training run at its newest checkpoint, read without writing anything.

    Returns:
      A `RunNetwork`, or None for a run directory without checkpoints (a baseline search, or a
      training that has not saved yet).
    Raises:
      ConfigError: an unreadable config.json.
    """
    from pathlib import Path

    import orbax.checkpoint as ocp

    import games
    from alphadev import networks as N
    from alphadev.config import load_run_config
    from alphadev.learner import optimizer
    run = Path(run)
    if not (run / "config.json").exists() or not (run / "checkpoints").is_dir():
        return None
    config = load_run_config(run)
    manager = ocp.CheckpointManager(run.resolve() / "checkpoints", options=ocp.CheckpointManagerOptions(create=False))
    step = manager.latest_step()
    if step is None:
        return None
    game = games.make(config.game, **config.game_config)
    net, observer = N.make(game, config.net)
    # The tree as train.py saves it, as the template: every orbax version restores onto one.
    key = jax.random.PRNGKey(config.seed)
    params = N.init(net, observer, game, key)
    template = dict(params=params, opt_state=optimizer(config.learner).init(params), key=key,
                    counters=np.zeros(4, np.int64), elapsed=np.zeros(1, np.float64))
    params = manager.restore(step, args=ocp.args.StandardRestore(template))["params"]
    return RunNetwork(game, net, observer, params, int(step), config)


def policy_along(network: RunNetwork, program: isa.Program, *, k: int = 3) -> list[PolicyStep]:
    """The prior's top `k` moves before each move of `program`, and where the move played ranks.

    Args:
      network: `load_network`'s.
      program: a program of the game's vocabulary (a record's).
    """
    from alphadev.diagnostics import evaluate_prefixes
    game = network.game
    moves = game.moves_for(program)
    prefixes = np.full((len(moves), game.max_moves), -1, np.int32)
    for i in range(len(moves)):
        prefixes[i, :i] = moves[:i]
    evaluate = evaluate_prefixes(game, network.net, network.observer, network.config.net)
    logits, _, _ = evaluate(network.params, prefixes)
    prior = np.asarray(jax.nn.softmax(logits, axis=-1))
    names = [action_text(item) for item in game.task.vocabulary]
    steps = []
    for i, move in enumerate(moves):
        order = np.argsort(-prior[i])
        steps.append(PolicyStep(i, names[move], float(prior[i, move]), int(np.flatnonzero(order == move)[0]),
                                [(names[a], float(prior[i, a])) for a in order[:k]]))
    return steps
