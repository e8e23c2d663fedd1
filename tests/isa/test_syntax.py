"""Program model and Intel-syntax text."""
import pytest

import isa
from isa import Imm, Instruction, Mem, Program, Reg, Target

SORT3 = """
.intel_syntax noprefix
mov eax, dword ptr [rdi]      # load
mov ecx, dword ptr [rdi+4]
cmp eax, ecx
cmovl edx, ecx
je .done
mov dword ptr [rdi + rsi*1 + 8], eax
.done:
"""


def test_parse_reads_the_design_examples():
    p = isa.parse(SORT3)
    assert p[0] == Instruction("mov", (Reg("eax"), Mem(32, "rdi")))
    assert p[1].operands[1] == Mem(32, "rdi", disp=4)
    assert p[3] == Instruction("cmovl", (Reg("edx"), Reg("ecx")))
    assert p[4] == Instruction("je", (Target(6),))
    assert p[5].operands[0] == Mem(32, "rdi", "rsi", 1, 8)
    assert len(p) == 6


def test_to_text_round_trips():
    p = isa.parse(SORT3)
    text = isa.to_text(p)
    assert ".done:" in text and "je .done" in text
    assert isa.parse(text) == p


def test_no_name_shadows_the_builtin_format():
    assert not hasattr(isa, "format") and "format" not in isa.__all__


def test_label_names_do_not_change_equality():
    a = isa.parse("je .x\nnot eax\n.x:")
    b = isa.parse("je .other\nnot eax\n.other:")
    assert a == b and hash(a) == hash(b)


def test_immediates_are_canonical():
    assert isa.parse("mov eax, 0xffffffff") == isa.parse("mov eax, -1")
    assert isa.parse("movabs rax, -1")[0].operands[1] == Imm(2**64 - 1)


@pytest.mark.parametrize("text, problem", [
    ("push rax", "outside the supported subset"),
    ("mov eax, rcx", "operand sizes differ"),
    ("mov rax, 0x100000000", "use movabs"),
    ("mov eax, dword ptr [eax]", "64-bit registers"),
    ("mov dword ptr [rdi], 1\nfoo: jmp foo", "forward"),
    ("jmp .nowhere", "unknown label"),
    ("mov [rdi], 1", "needs a size"),
    ("add rsp, 8", "rsp"),
    ("mov eax, word ptr [rdi]", "dword or qword"),
    ("shl eax, 300", "not a byte"),
])
def test_bad_text_is_a_clear_error(text, problem):
    with pytest.raises(isa.ParseError) as e:
        isa.parse(text)
    assert problem in str(e.value) and "line" in str(e.value)


def test_parse_error_names_the_line():
    with pytest.raises(isa.ParseError, match=r"line 3: 'bogus eax'"):
        isa.parse("mov eax, ecx\n\nbogus eax\n")


def test_program_rejects_backward_jumps():
    with pytest.raises(isa.ProgramError, match="forward"):
        Program((Instruction("not", (Reg("eax"),)), Instruction("jmp", (Target(0),))))
