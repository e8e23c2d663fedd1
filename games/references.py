"""Human baselines written as programs; the tests score each of them correct.

- `sorting_network(n)`: an optimal-size comparator network for 3, 4 or 5 values, each comparator
  a cmov compare-swap of 4 instructions (`mov t, a; cmp a, b; cmovg a, b; cmovg b, t`), plus the
  loads and stores: 18, 28 and 46 instructions.
- `varsort3_branchy`: loads only what the count covers, and branches on the count.
- `hash9to16_abseil2022` / `hash9to16_abseil2023`: Abseil's two-multiply mix and its one-multiply
  replacement of January 2023 (games/hash.py).
"""
from __future__ import annotations

import isa
from games.hash import ABSEIL_2022, ABSEIL_2023
from games.sort import SORT_REGISTERS

NETWORKS = {
    2: [(0, 1)],
    3: [(0, 1), (1, 2), (0, 1)],
    4: [(0, 1), (2, 3), (0, 2), (1, 3), (1, 2)],
    5: [(0, 1), (3, 4), (2, 4), (2, 3), (0, 3), (0, 2), (1, 4), (1, 3), (1, 2)],
}


def compare_swap(a: str, b: str, temp: str) -> list[str]:
    """After it, a <= b (signed)."""
    return [f"mov {temp}, {a}", f"cmp {a}, {b}", f"cmovg {a}, {b}", f"cmovg {b}, {temp}"]


def sorting_network(n: int) -> isa.Program:
    if n not in NETWORKS:
        raise ValueError(f"no reference network for {n} values (have {sorted(NETWORKS)})")
    regs, temp = SORT_REGISTERS[:n], SORT_REGISTERS[n]
    lines = [f"mov {regs[k]}, dword ptr [rdi+{4 * k}]" for k in range(n)]
    for i, j in NETWORKS[n]:
        lines += compare_swap(regs[i], regs[j], temp)
    lines += [f"mov dword ptr [rdi+{4 * k}], {regs[k]}" for k in range(n)]
    return isa.parse("\n".join(lines))


VARSORT3_BRANCHY = isa.parse("""
    cmp dword ptr [rdi], 2
    jl .end
    mov eax, dword ptr [rdi+4]
    mov ecx, dword ptr [rdi+8]
    mov edx, eax
    cmp eax, ecx
    cmovg eax, ecx
    cmovg ecx, edx
    cmp dword ptr [rdi], 3
    jl .two
    mov esi, dword ptr [rdi+12]
    mov edx, ecx
    cmp ecx, esi
    cmovg ecx, esi
    cmovg esi, edx
    mov edx, eax
    cmp eax, ecx
    cmovg eax, ecx
    cmovg ecx, edx
    mov dword ptr [rdi+12], esi
.two:
    mov dword ptr [rdi+4], eax
    mov dword ptr [rdi+8], ecx
.end:
""")


def references() -> dict[str, tuple[str, isa.Program]]:
    """name -> (game, program) for every human baseline."""
    out = {f"sort{n}_network": (f"sort{n}", sorting_network(n)) for n in (2, 3, 4, 5)}
    out["varsort3_branchy"] = ("varsort3", VARSORT3_BRANCHY)
    out["hash9to16_abseil2022"] = ("hash9to16", ABSEIL_2022)
    out["hash9to16_abseil2023"] = ("hash9to16", ABSEIL_2023)
    return out
