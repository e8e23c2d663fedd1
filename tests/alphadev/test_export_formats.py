"""`alphadev export --format c|cpp|asm|rust`: each format is compiled by the real tools (gcc and
clang at -O2/-O3, rustc) and run on the task's inputs and random inputs, and must compute what
Unicorn computes for the program; what the C compilers make of the C and C++ sources is read
back and passed through `alphadev.verify`.

The drivers are built from the task's signature alone: they read (data bytes, scalar arguments)
per input on stdin and print the result, if any, and the data region afterwards.
"""
import copy
import dataclasses
import functools
import runpy
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import games
import isa
from alphadev import cli
from alphadev.formats import render
from alphadev.formats.c import c_source
from alphadev.formats.rust import rust_source
from alphadev.formats.compiled import compile_object, disassemble, from_objdump
from alphadev.formats.cpp import slot_count
from alphadev.results import Record, RecordError
from alphadev.verify import verify
from games.hash import ABSEIL_2023
from games.sort import VARSORT3_BRANCHY, sorting_network

MIN3 = Path(__file__).resolve().parents[2] / "examples" / "min3.py"
runpy.run_path(str(MIN3))

PROGRAMS = {"sort3": sorting_network(3), "sort4": sorting_network(4), "varsort3": VARSORT3_BRANCHY,
            "hash9to16": ABSEIL_2023, "min3": games.task("min3").references[0].program}
COMPARATOR_NETWORKS = ("sort3", "sort4", "min3")
C_COMPILERS = [c for c in ("gcc", "clang") if shutil.which(c)]
WARNINGS = ["-Wall", "-Wextra", "-Werror"]


RANDOM = 200  # random inputs the fixtures are verified on (export's default asks for 100,000)


@functools.lru_cache(maxsize=None)
def _verified(game: str) -> Record:
    record = Record.of(game, PROGRAMS[game], source="reference")
    record.verification = dataclasses.asdict(verify(PROGRAMS[game], game, n_random=RANDOM))
    return record


def _record(game: str) -> Record:
    """An honestly verified record of the game's reference program."""
    return copy.deepcopy(_verified(game))


def _render(record: Record, fmt: str) -> str:
    return render(record, fmt, min_random=RANDOM)


def _name(game: str) -> str:
    return f"alphadev_{game}"


def _need(tool: str):
    if not shutil.which(tool):
        pytest.skip(f"{tool} is not installed (apt-get install {'clang' if 'clang' in tool else tool})")


def _input_groups(task: games.Task) -> list[isa.Inputs]:
    """The task's own inputs (split by data size as the task runs them) and random ones."""
    own = [inputs for _, inputs in task.executions(PROGRAMS[task.name], "unicorn")]
    return own + task.random_inputs(300, seed=3)


def _stdin(sig: games.Signature, inputs: isa.Inputs) -> str:
    scalars = [isa.Reg(p.register).number for p in sig.params if not p.pointer]
    lines = [f"{len(inputs)} {inputs.data_size} {len(scalars)}"]
    lines += [" ".join(map(str, m)) + " " + " ".join(str(int(r)) for r in regs[scalars])
              for m, regs in zip(inputs.memory.tolist(), inputs.registers, strict=True)]
    return "\n".join(lines) + "\n"


def _expect(game: str, run_stdout: str, inputs: isa.Inputs):
    """Asserts the driver printed what Unicorn computes for the program on `inputs`."""
    sig = games.task(game).signature
    want = isa.execute(PROGRAMS[game], inputs, "unicorn")
    assert all(f is None for f in want.fault)
    got = np.array([line.split() for line in run_stdout.splitlines()], np.uint64)
    if sig.result:
        value = want.registers[:, isa.Reg(sig.result).number]
        if sig.result == "eax":  # the C type's bits: an int32_t result sign-extends
            value = value.astype(np.uint32).view(np.int32).astype(np.int64).view(np.uint64)
        np.testing.assert_array_equal(got[:, 0], value)
        got = got[:, 1:]
    np.testing.assert_array_equal(got, want.memory)


C_DRIVER = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
%(kernel)s
int main(void) {
    int n, width, scalars;
    if (scanf("%%d %%d %%d", &n, &width, &scalars) != 3) return 3;
    unsigned char *a = malloc(64);
    for (int v = 0; v < n; v++) {
        unsigned long long regs[4] = {0};
        for (int k = 0; k < width; k++) { unsigned x; if (scanf("%%u", &x) != 1) return 3; a[k] = (unsigned char)x; }
        for (int k = 0; k < scalars; k++) if (scanf("%%llu", &regs[k]) != 1) return 3;
        %(call)s
        for (int k = 0; k < width; k++) printf("%%u ", a[k]);
        printf("\n");
    }
    free(a);
    return 0;
}
"""


def _c_call(sig: games.Signature, function: str) -> str:
    args, k = [], 0
    for p in sig.params:
        if p.pointer:
            args.append(f"({p.ctype})(void *)a")
        else:
            args.append(f"({p.ctype})regs[{k}]")
            k += 1
    call = f"{function}({', '.join(args)})"
    return f'printf("%llu ", (unsigned long long)(uint64_t){call});' if sig.result else f"{call};"


def _run(exe: Path, game: str):
    task = games.task(game)
    for inputs in _input_groups(task):
        run = subprocess.run([str(exe)], input=_stdin(task.signature, inputs), capture_output=True, text=True,
                             check=True)
        _expect(game, run.stdout, inputs)


def _compile(compiler: str, flags: list[str], source: Path, exe: Path):
    run = subprocess.run([compiler, *flags, "-o", str(exe), *map(str, source if isinstance(source, list) else [source])],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


# C: a header with a portable static inline function.

@pytest.mark.parametrize("opt", ["-O2", "-O3"])
@pytest.mark.parametrize("compiler", ["gcc", "clang"])
@pytest.mark.parametrize("game", list(PROGRAMS))
def test_c_source_computes_what_unicorn_computes(tmp_path, game, compiler, opt):
    _need(compiler)
    (tmp_path / "kernel.h").write_text(_render(_record(game), "c"))
    sig = games.task(game).signature
    (tmp_path / "driver.c").write_text(C_DRIVER % dict(kernel='#include "kernel.h"', call=_c_call(sig, _name(game))))
    _compile(compiler, [opt, *WARNINGS], tmp_path / "driver.c", tmp_path / "driver")
    _run(tmp_path / "driver", game)


@pytest.mark.parametrize("fmt, compiler, suffix", [("header", "gcc", ".c"), ("c", "gcc", ".c"), ("c", "clang", ".c"),
                                                   ("cpp", "g++", ".cpp"), ("cpp", "clang++", ".cpp")])
def test_headers_included_and_unused_compile_clean(tmp_path, fmt, compiler, suffix):
    _need(compiler)
    for game in COMPARATOR_NETWORKS + (("hash9to16", "varsort3") if fmt != "cpp" else ()):
        (tmp_path / f"{game}.h").write_text(_render(_record(game), fmt))
    includes = "".join(f'#include "{game}.h"\n' for game in COMPARATOR_NETWORKS)
    (tmp_path / f"unit{suffix}").write_text(includes + "int main(void) { return 0; }\n")
    extra = ["-Wunused-const-variable", "-Wunused-function", "-Wunused"]
    _compile(compiler, ["-O2", *WARNINGS, *extra], tmp_path / f"unit{suffix}", tmp_path / "unit")


def _wrapper_c(game: str) -> str:
    sig = games.task(game).signature
    args = ", ".join(p.name for p in sig.params)
    give = "return " if sig.result else ""
    return f'#include "kernel.h"\n{sig.declaration("compiled")};\n{sig.declaration("compiled")} {{ {give}{_name(game)}({args}); }}\n'


def _compiler_output(source: str, compiler: str, suffix: str, directory: Path) -> isa.Program:
    obj = compile_object(source, compiler=compiler, flags=["-O3", *WARNINGS, f"-I{directory}"], suffix=suffix)
    listing = disassemble(obj, "compiled")
    try:
        return from_objdump(listing)
    except (isa.ParseError, isa.ProgramError) as e:
        pytest.skip(f"{compiler} -O3 emits code outside the instruction subset, so verify cannot run it: {e}")


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
@pytest.mark.parametrize("game", list(PROGRAMS))
def test_c_compilers_output_passes_verify(tmp_path, game, compiler):
    _need(compiler)
    (tmp_path / "kernel.h").write_text(_render(_record(game), "c"))
    program = _compiler_output(_wrapper_c(game), compiler, ".c", tmp_path)
    result = verify(program, game, n_random=2000)
    assert result.passed, result.first_failure
    if game in COMPARATOR_NETWORKS:  # branch-free in, branch-free out: the swaps became cmovs
        assert any(ins.mnemonic.startswith("cmov") for ins in program)
        assert not any(ins.target is not None for ins in program)


def test_c_lift_refuses_flags_it_cannot_state():
    program = isa.parse("mov eax, dword ptr [rdi]\nshl eax, 3\ncmovl ecx, eax\nmov dword ptr [rdi], ecx")
    record = Record.of("sort2", program)  # not a sort: the lift is refused before anything runs it
    with pytest.raises(RecordError, match=r"--format c: instruction 1 \(shl eax, 3\) sets flags"):
        c_source(record, "alphadev_sort2")


# C++: a template over the value type and the comparator.

CPP_DRIVER = r"""
#include <cstdint>
#include <cstdio>
#include <cstring>
#include "kernel.hpp"
static %(declaration)s { %(give)s%(name)s(%(iterators)s); }
int main() {
    int n, width, scalars;
    if (std::scanf("%%d %%d %%d", &n, &width, &scalars) != 3) return 3;
    static unsigned char a[64];
    for (int v = 0; v < n; v++) {
        for (int k = 0; k < width; k++) { unsigned x; if (std::scanf("%%u", &x) != 1) return 3; a[k] = (unsigned char)x; }
        %(call)s
        for (int k = 0; k < width; k++) std::printf("%%u ", a[k]);
        std::printf("\n");
    }
    return 0;
}
"""


def _cpp_driver(game: str) -> str:
    sig = games.task(game).signature
    pointer = sig.params[0].name
    iterators = ", ".join(f"{pointer} + {k}" for k in range(slot_count(PROGRAMS[game])))
    call = _c_call(sig, "kernel").replace("(unsigned long long)(uint64_t)", "(unsigned long long)(uint64_t)(int64_t)")
    return CPP_DRIVER % dict(declaration=sig.declaration("kernel"), give="return " if sig.result else "",
                             name=_name(game), iterators=iterators, call=call)


@pytest.mark.parametrize("opt", ["-O2", "-O3"])
@pytest.mark.parametrize("compiler", ["g++", "clang++"])
@pytest.mark.parametrize("game", COMPARATOR_NETWORKS)
def test_cpp_template_with_int32_and_less_computes_what_unicorn_computes(tmp_path, game, compiler, opt):
    _need(compiler)
    (tmp_path / "kernel.hpp").write_text(_render(_record(game), "cpp"))
    (tmp_path / "driver.cpp").write_text(_cpp_driver(game))
    _compile(compiler, ["-std=c++14", opt, *WARNINGS], tmp_path / "driver.cpp", tmp_path / "driver")
    _run(tmp_path / "driver", game)


ORDERS = r"""
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include "kernel.hpp"

template <class T> static T make(std::int64_t x) { return T(x); }
template <> std::string make<std::string>(std::int64_t x) { return std::to_string(x); }

struct ByMagnitude {  // a strict weak order with ties between x and -x
    bool operator()(double a, double b) const { return std::fabs(a) < std::fabs(b); }
};

template <class T, class Compare>
static int check(const char *what, Compare comp) {
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<int> small(-3, 3);
    int failures = 0;
    for (int trial = 0; trial < 20000; trial++) {
        T v[%(slots)d], orig[%(slots)d];
        for (int k = 0; k < %(slots)d; k++) {
            T x = make<T>(trial %% 2 ? small(rng) : std::int64_t(rng()) >> (rng() %% 64));
            v[k] = orig[k] = x;
        }
        %(check)s
    }
    if (failures) std::printf("%%s: %%d failures\n", what, failures);
    return failures;
}

int main() {
    int failures = check<std::int32_t>("int32_t less", std::less<std::int32_t>())
                 + check<std::int64_t>("int64_t less", std::less<>())
                 + check<std::int64_t>("int64_t greater", std::greater<>())
                 + check<float>("float greater", std::greater<float>())
                 + check<double>("double by magnitude", ByMagnitude())
                 + check<std::string>("string less", std::less<>());
    return failures ? 1 : 0;
}
"""
SORTS = """{ %(name)s(%(iterators)s, comp);
          if (!std::is_sorted(v, v + %(slots)d, comp) || !std::is_permutation(v, v + %(slots)d, orig)) failures++; }"""
MINIMUM = """{ T got = %(name)s(%(iterators)s, comp);
          T want = *std::min_element(orig, orig + %(slots)d, comp);
          if (comp(got, want) || comp(want, got) || std::find(orig, orig + %(slots)d, got) == orig + %(slots)d) failures++; }"""


@pytest.mark.parametrize("compiler", ["g++", "clang++"])
@pytest.mark.parametrize("game", COMPARATOR_NETWORKS)
def test_cpp_template_orders_other_types_by_their_comparator(tmp_path, game, compiler):
    _need(compiler)
    slots = slot_count(PROGRAMS[game])
    fields = dict(name=_name(game), slots=slots, iterators=", ".join(f"v + {k}" for k in range(slots)))
    check = (MINIMUM if games.task(game).signature.result else SORTS) % fields
    source = ORDERS % dict(fields, check=check)
    (tmp_path / "kernel.hpp").write_text(_render(_record(game), "cpp"))
    (tmp_path / "orders.cpp").write_text(source)
    _compile(compiler, ["-std=c++14", "-O2", *WARNINGS], tmp_path / "orders.cpp", tmp_path / "orders")
    run = subprocess.run([str(tmp_path / "orders")], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("compiler", ["g++", "clang++"])
@pytest.mark.parametrize("game", COMPARATOR_NETWORKS)
def test_cpp_compilers_output_passes_verify(tmp_path, game, compiler):
    _need(compiler)
    (tmp_path / "kernel.hpp").write_text(_render(_record(game), "cpp"))
    sig = games.task(game).signature
    pointer = sig.params[0].name
    iterators = ", ".join(f"{pointer} + {k}" for k in range(slot_count(PROGRAMS[game])))
    source = (f'#include "kernel.hpp"\n#include <cstdint>\nextern "C" {sig.declaration("compiled")};\n'
              f'extern "C" {sig.declaration("compiled")} {{ {"return " if sig.result else ""}{_name(game)}({iterators}); }}\n')
    program = _compiler_output(source, compiler, ".cpp", tmp_path)
    result = verify(program, game, n_random=2000)
    assert result.passed, result.first_failure


@pytest.mark.parametrize("game", ["varsort3", "hash9to16"])
def test_cpp_refuses_programs_outside_comparator_networks(game):
    with pytest.raises(RecordError, match=r"^--format cpp: instruction 0 \(.*\) .*use --format c$"):
        _render(_record(game), "cpp")


# .S: one global System V function.

@pytest.mark.parametrize("game", list(PROGRAMS))
def test_asm_file_assembles_links_and_computes_what_unicorn_computes(tmp_path, game):
    text = _render(_record(game), "asm")
    assert f".globl {_name(game)}" in text and ".note.GNU-stack" in text
    (tmp_path / "kernel.S").write_text(text)
    sig = games.task(game).signature
    declaration = f"{sig.declaration(_name(game))};"
    (tmp_path / "driver.c").write_text(C_DRIVER % dict(kernel=declaration, call=_c_call(sig, _name(game))))
    _compile("gcc", ["-O2", *WARNINGS, "-Wl,--fatal-warnings"], [tmp_path / "driver.c", tmp_path / "kernel.S"],
             tmp_path / "driver")
    _run(tmp_path / "driver", game)


# Rust: core::arch::asm!.

RUST_DRIVER = r"""
include!("kernel.rs");
use std::io::Read;
fn main() {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).unwrap();
    let mut words = text.split_whitespace().map(|w| w.parse::<u64>().unwrap());
    let (n, width, scalars) = (words.next().unwrap(), words.next().unwrap() as usize, words.next().unwrap() as usize);
    let mut storage = [0u64; 8];
    let mut out = String::new();
    for _ in 0..n {
        let a = storage.as_mut_ptr() as *mut u8;
        for k in 0..width { unsafe { *a.add(k) = words.next().unwrap() as u8; } }
        let regs: Vec<u64> = (0..scalars).map(|_| words.next().unwrap()).collect();
        let _ = &regs;
        %(call)s
        for k in 0..width { out.push_str(&format!("{} ", unsafe { *a.add(k) })); }
        out.push('\n');
    }
    print!("{}", out);
}
"""


def _rust_call(game: str) -> str:
    from alphadev.formats.rust import rust_type
    sig = games.task(game).signature
    args, k = [], 0
    for p in sig.params:
        if p.pointer:
            args.append(f"a as {rust_type(p.ctype)}")
        else:
            args.append(f"regs[{k}] as {rust_type(p.ctype)}")
            k += 1
    call = f"unsafe {{ {_name(game)}({', '.join(args)}) }}"
    if sig.result:
        return f'out.push_str(&format!("{{}} ", ({call}) as i64 as u64));'
    return f"{call};"


@pytest.mark.parametrize("edition", ["2021", "2024"])
@pytest.mark.parametrize("game", ["sort3", "varsort3", "hash9to16", "min3"])
def test_rust_function_compiles_and_computes_what_unicorn_computes(tmp_path, game, edition):
    _need("rustc")
    (tmp_path / "kernel.rs").write_text(_render(_record(game), "rust"))
    (tmp_path / "main.rs").write_text(RUST_DRIVER % dict(call=_rust_call(game)))
    run = subprocess.run(["rustc", f"--edition={edition}", "-O", "-D", "warnings", "-o", str(tmp_path / "driver"),
                          str(tmp_path / "main.rs")], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    _run(tmp_path / "driver", game)


def test_rust_saves_rbx_and_uses_numeric_labels(tmp_path):
    program = isa.parse("mov ebx, dword ptr [rdi]\ncmp ebx, 1\njl .skip\nmov dword ptr [rdi], ebx\n.skip:")
    text = rust_source(Record.of("sort2", program), "alphadev_sort2")  # compiled, not run
    assert "mov {saved_rbx}, rbx" in text and "saved_rbx = out(reg) _" in text and '"jl 2f"' in text
    assert 'out("rbx")' not in text
    if shutil.which("rustc"):  # LLVM refuses rbx as an operand: the saved copy must compile
        (tmp_path / "kernel.rs").write_text(text)
        run = subprocess.run(["rustc", "--edition=2021", "--crate-type=lib", "-D", "warnings", "-o",
                              str(tmp_path / "libk.rlib"), str(tmp_path / "kernel.rs")], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr


# The CLI.

@pytest.mark.parametrize("fmt, marker", [("c", "static inline void alphadev_sort3(int32_t *buf)"),
                                         ("cpp", "template <class Iter"), ("asm", ".globl alphadev_sort3"),
                                         ("rust", "pub unsafe fn alphadev_sort3(buf: *mut i32)"),
                                         ("header", "__asm__ volatile")])
def test_cli_export_formats(tmp_path, fmt, marker):
    record = _record("sort3")
    record.save(tmp_path / "rec.json")
    out = tmp_path / "out"
    assert cli.main(["export", str(tmp_path / "rec.json"), "--format", fmt, "-o", str(out),
                     "--min-random", str(RANDOM)]) == 0
    assert marker in out.read_text()


def test_cli_export_errors_are_one_line(tmp_path, capsys):
    record = _record("hash9to16")
    record.save(tmp_path / "rec.json")
    assert cli.main(["export", str(tmp_path / "rec.json"), "--format", "cpp", "-o", str(tmp_path / "x"),
                     "--min-random", str(RANDOM)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--format cpp" in err and not (tmp_path / "x").exists()
    unverified = dataclasses.replace(record, verification=None)
    unverified.save(tmp_path / "raw.json")
    assert cli.main(["export", str(tmp_path / "raw.json"), "--format", "c", "-o", str(tmp_path / "x")]) == 2
    assert "not verified" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["c", "cpp", "asm", "rust"])
def test_record_text_cannot_escape_the_comment(fmt):
    # source, found and version are outside the digest: a record still verified may carry anything
    record = dataclasses.replace(_record("sort3"), source="x\n#error injected */ int y;", found="*/ bad")
    text = _render(record, fmt)
    assert not any(line.lstrip().startswith("#error") for line in text.splitlines())
    assert "*/ bad" not in text and "*/ int y" not in text


@pytest.mark.parametrize("fmt, name", [("rust", "fn"), ("rust", "match"), ("asm", "rax"), ("asm", "xmm0"),
                                       ("asm", "ptr")])
def test_names_reserved_in_the_formats_language_are_refused(fmt, name):
    with pytest.raises(RecordError, match="reserved"):
        render(_record("sort3"), fmt, name, min_random=RANDOM)


def test_export_never_overwrites_its_record(tmp_path, capsys):
    path = _record("sort3").save(tmp_path / "rec.json")
    before = path.read_text()
    assert cli.main(["export", str(path), "-o", str(path), "--min-random", str(RANDOM)]) == 2
    assert "the record being exported" in capsys.readouterr().err and path.read_text() == before
    assert cli.main(["export", str(path), "-o", str(tmp_path / "no" / "x.h"), "--min-random", str(RANDOM)]) == 2
    assert "no directory" in capsys.readouterr().err
