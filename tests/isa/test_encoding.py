"""Encoding (iced-x86) against GNU as, and decoding (capstone) back, for every form."""
import shutil
import subprocess

import pytest

import isa
from isa.model import CONDITIONS, FORMS

# One example of every (mnemonic, form), plus the encodings GNU as chooses between.
EXAMPLES = """
mov eax, ecx
mov rax, r9
mov eax, 5
mov r10, -7
mov eax, dword ptr [rdi+4]
mov rbx, qword ptr [rdi+rsi+8]
mov dword ptr [rdi+12], r8d
mov qword ptr [rdi], rdx
mov dword ptr [rdi+4], 7
mov qword ptr [rdi+8], -1
movabs rax, 0x9ddfea08eb382d69
movabs r11, 1
{alu}
cmp dword ptr [rdi], 2
{cmov}
not eax
not qword ptr [rdi+8]
neg rcx
neg dword ptr [rdi]
{shifts}
imul eax, ecx
imul r9, qword ptr [rdi+8]
imul eax, ecx, 3
imul rax, rcx, 300
imul eax, dword ptr [rdi+4], -5
mul rcx
mul r13d
mul qword ptr [rdi]
lea eax, [rdi+rsi+4]
lea r8, [rdi+rsi*8-16]
lea rax, [r13]
mov eax, dword ptr [r12+4]
mov eax, dword ptr [rbp]
mov eax, dword ptr [rdi+0x1000]
{jumps}
not eax
.end:
"""


def _examples() -> str:
    alu = "\n".join(f"{op} {a}, {b}" for op in ("add", "sub", "and", "or", "xor", "cmp") for a, b in [
        ("eax", "ecx"), ("r9", "rax"), ("eax", "5"), ("eax", "500"), ("ecx", "500"), ("rax", "-200"),
        ("r12d", "dword ptr [rdi+4]"), ("qword ptr [rdi]", "rsi"), ("dword ptr [rdi+8]", "100000")])
    cmov = "\n".join(f"cmov{c} {a}, {b}" for c in CONDITIONS for a, b in [("edx", "ecx"), ("r8", "qword ptr [rdi+8]")])
    shifts = "\n".join(f"{op} {r}, {k}" for op in ("shl", "shr", "sar", "rol", "ror")
                       for r, k in [("eax", 1), ("r10", 1), ("ecx", 31), ("rdx", 63), ("esi", 0)])
    jumps = "\n".join(f"j{c} .end" for c in CONDITIONS) + "\njmp .end"
    return EXAMPLES.format(alu=alu, cmov=cmov, shifts=shifts, jumps=jumps)


def test_examples_cover_every_form():
    program = isa.parse(_examples())
    seen = {(i.mnemonic, i.form) for i in program}
    assert seen == {(m, f) for m, forms in FORMS.items() for f in forms}


def _gnu_as(text: str, tmp_path) -> bytes:
    src, obj, raw = tmp_path / "k.s", tmp_path / "k.o", tmp_path / "k.bin"
    src.write_text(".intel_syntax noprefix\n" + text)
    subprocess.run(["as", "-o", str(obj), str(src)], check=True, capture_output=True)
    subprocess.run(["objcopy", "-O", "binary", "--only-section=.text", str(obj), str(raw)], check=True)
    return raw.read_bytes()


@pytest.mark.skipif(shutil.which("as") is None, reason="GNU as (binutils) is not installed")
def test_bytes_equal_gnu_as_for_every_form(tmp_path):
    program = isa.parse(_examples())
    ours = isa.assemble(program)
    # Whole program first, then instruction by instruction for a precise message.
    if ours != _gnu_as(isa.to_text(program), tmp_path):
        for ins in program:
            if ins.target is None:
                one = isa.Program((ins,))
                assert isa.assemble(one).hex() == _gnu_as(isa.to_text(one), tmp_path).hex(), isa.to_text(one)
        pytest.fail("jump encodings differ from GNU as")


def test_capstone_decodes_back_to_the_same_program():
    program = isa.parse(_examples())
    assert isa.disassemble(isa.assemble(program)) == program


def test_long_forward_jump_uses_the_near_form():
    body = "\n".join(["movabs rax, 1"] * 20)  # 200 bytes: out of reach of a short jump
    program = isa.parse(f"je .end\n{body}\n.end:")
    code = isa.assemble(program)
    assert code[:2] == b"\x0f\x84"
    assert isa.disassemble(code) == program


def test_disassemble_rejects_code_outside_the_subset():
    with pytest.raises(isa.ProgramError):
        isa.disassemble(b"\x50")  # push rax
