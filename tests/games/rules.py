"""An independent, host-side reading of the legality rules, to check the game's mask against.

It follows program order (not paths), which is what the rules say for straight-line code and
a weaker but still binding check for branchy code.
"""
import isa
from games import Jump, PlaceLabel


def violations(game, moves) -> list[str]:
    rules, task = game.config.rules, game.task
    slot_of = lambda m: m.disp // 4 if m.base == "rdi" and m.index is None else None
    written = {isa.REGISTERS_64[isa.Reg(r).number] for r in task.entry_registers}
    loaded, stored, problems = set(), set(), []
    last_compare = flags_set = False
    order = [isa.Reg(r).number for r in task.registers]
    fresh_next = 0
    last_jump_label = None
    used_labels = []
    for k, a in enumerate(moves):
        item = task.vocabulary[a]
        where = f"move {k} ({item})"
        if isinstance(item, PlaceLabel):
            if last_jump_label == item.label:
                problems.append(f"{where}: empty jump")
            if item.label not in used_labels:
                problems.append(f"{where}: label placed before any jump to it")
            last_jump_label = None
            continue
        if isinstance(item, Jump):
            if item.label not in used_labels:
                if item.label != len(used_labels):
                    problems.append(f"{where}: labels out of order")
                used_labels.append(item.label)
            if item.mnemonic != "jmp" and not flags_set:
                problems.append(f"{where}: jump on undefined flags")
            last_jump_label, last_compare = item.label, False
            continue
        last_jump_label = None
        m = item.mnemonic
        ops = item.operands
        mem = item.memory
        is_load = m == "mov" and isinstance(ops[1], isa.Mem)
        is_store = m == "mov" and isinstance(ops[0], isa.Mem)
        if rules.read_once and is_load and slot_of(mem) in loaded:
            problems.append(f"{where}: slot loaded twice")
        if rules.write_once and is_store and slot_of(mem) in stored:
            problems.append(f"{where}: slot stored twice")
        if rules.loads_first and is_load and stored:
            problems.append(f"{where}: load after a store")
        if rules.stores_last and stored and not is_store:
            problems.append(f"{where}: non-store after a store")
        if rules.no_double_compare and m == "cmp" and last_compare:
            problems.append(f"{where}: two compares in a row")
        if rules.no_memory_operands and mem is not None and not (is_load or is_store) and not (m == "cmp" and item.form == "m,i"):
            problems.append(f"{where}: memory operand")
        if m.startswith("cmov") and not flags_set:
            problems.append(f"{where}: cmov on undefined flags")
        # Registers read: every source, the destination of a read-modify-write, mul's rax.
        reads = [op.name for op in ops[1:] if isinstance(op, isa.Reg)]
        if isinstance(ops[0], isa.Reg) and (m not in ("mov", "movabs", "lea") or m == "mul") \
                and not (m == "imul" and len(ops) == 3):
            reads.append(ops[0].name)
        targets = ["rax", "rdx"] if m == "mul" else [] if m == "cmp" or not isinstance(ops[0], isa.Reg) else [ops[0].name]
        if m == "mul":
            reads.append("rax")
        if rules.defined_registers:
            for r in reads:
                if isa.REGISTERS_64[isa.Reg(r).number] not in written:
                    problems.append(f"{where}: reads {r} before any write")
        for name in targets:
            full = isa.REGISTERS_64[isa.Reg(name).number]
            if full not in written:
                if rules.ordered_registers and (fresh_next >= len(order) or isa.Reg(name).number != order[fresh_next]):
                    problems.append(f"{where}: register {name} out of allocation order")
                written.add(full)
                fresh_next += 1
        if is_load:
            loaded.add(slot_of(mem))
        if is_store:
            stored.add(slot_of(mem))
        last_compare = m == "cmp"
        flags_set = flags_set or m == "cmp"
    return problems
