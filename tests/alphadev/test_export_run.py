"""Exported headers compile with -Wall -Werror and compute what Unicorn computes, for every task
with a reference and for a user's task loaded from a file (examples/min3.py).

The C driver is built from the task's signature alone: it calls both forms of the kernel (the
inline function and the byte array copied into executable memory) on the task's random inputs
and prints the data region and the result, which must equal Unicorn's run of the same program.
"""
import dataclasses
import functools
import runpy
import subprocess
from pathlib import Path

import numpy as np
import pytest

import games
import isa
from alphadev.export import header
from alphadev.results import Record
from alphadev.verify import verify

MIN3 = Path(__file__).resolve().parents[2] / "examples" / "min3.py"
RANDOM = 200  # verification inputs: the header needs a verified record; the runs below check it

DRIVER = r"""
#include "kernel.h"
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
typedef %(kernel_type)s;
int main(void) {
    int n, width, scalars;
    if (scanf("%%d %%d %%d", &n, &width, &scalars) != 3) return 3;
    void *mem = mmap(0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memcpy(mem, NAME_code, sizeof NAME_code);
    kernel raw = (kernel)mem;
    for (int v = 0; v < n; v++) {
        unsigned char in[64], a[64], b[64];
        unsigned long long regs[4] = {0};
        for (int k = 0; k < width; k++) { unsigned x; if (scanf("%%u", &x) != 1) return 3; in[k] = (unsigned char)x; }
        for (int k = 0; k < scalars; k++) if (scanf("%%llu", &regs[k]) != 1) return 3;
        memcpy(a, in, width); memcpy(b, in, width);
        %(calls)s
        for (int k = 0; k < width; k++) printf("%%u ", a[k]);
        for (int k = 0; k < width; k++) printf("%%u ", b[k]);
        printf("\n");
    }
    return 0;
}
"""


def _driver(sig: games.Signature, name: str) -> str:
    def args(buf):
        out, k = [], 0
        for p in sig.params:
            if p.pointer:
                out.append(f"({p.ctype}){buf}")
            else:
                out.append(f"({p.ctype})regs[{k}]")
                k += 1
        return ", ".join(out)
    if sig.result:
        calls = (f'printf("%llu %llu ", (unsigned long long)(uint64_t){name}({args("a")}), '
                 f'(unsigned long long)(uint64_t)raw({args("b")}));')
    else:
        calls = f"{name}({args('a')}); raw({args('b')});"
    return (DRIVER % dict(kernel_type=sig.declaration("(*kernel)"), calls=calls)).replace("NAME", name)


def _result_bits(sig: games.Signature, registers: np.ndarray) -> np.ndarray:
    """The result as the C return type's bits: eax is 32 bits, sign-extended by an int32_t."""
    value = registers[:, isa.Reg(sig.result).number]
    if sig.result == "eax":
        return value.astype(np.uint32).view(np.int32).astype(np.int64).view(np.uint64)
    return value


@functools.lru_cache(maxsize=None)
def _verified(name: str, program: isa.Program) -> Record:
    record = Record.of(name, program)
    record.verification = dataclasses.asdict(verify(program, name, n_random=RANDOM))
    return record


def _cases():
    runpy.run_path(str(MIN3))
    return [(name, r.program) for name in games.names() for r in games.task(name).references[:1]]


@pytest.mark.parametrize("opt", ["-O0", "-O2", "-O3"])
@pytest.mark.parametrize("name, program", _cases(), ids=lambda x: x if isinstance(x, str) else "")
def test_exported_header_computes_what_unicorn_computes(tmp_path, name, program, opt):
    task = games.task(name)
    sig = task.signature
    (tmp_path / "kernel.h").write_text(header(_verified(name, program), min_random=RANDOM))
    (tmp_path / "driver.c").write_text(_driver(sig, f"alphadev_{name}"))
    exe = tmp_path / "driver"
    subprocess.run(["gcc", opt, "-Wall", "-Werror", "-o", str(exe), str(tmp_path / "driver.c")],
                   check=True, capture_output=True, text=True)
    scalar_regs = [isa.Reg(p.register).number for p in sig.params if not p.pointer]
    for inputs in task.random_inputs(200, seed=1):  # every group: each count, each string length
        want = isa.execute(program, inputs, "unicorn")
        assert task.check(want, inputs) is None
        width = inputs.data_size
        lines = [f"{len(inputs)} {width} {len(scalar_regs)}"]
        lines += [" ".join(map(str, m)) + " " + " ".join(str(int(r)) for r in regs[scalar_regs])
                  for m, regs in zip(inputs.memory.tolist(), inputs.registers, strict=True)]
        run = subprocess.run([str(exe)], input="\n".join(lines) + "\n", capture_output=True, text=True, check=True)
        got = np.array([line.split() for line in run.stdout.splitlines()], np.uint64)
        if sig.result:
            expected = _result_bits(sig, want.registers)
            np.testing.assert_array_equal(got[:, 0], expected)  # the inline function
            np.testing.assert_array_equal(got[:, 1], expected)  # the byte array
            got = got[:, 2:]
        np.testing.assert_array_equal(got[:, :width], want.memory)
        np.testing.assert_array_equal(got[:, width:], want.memory)
