"""isa: the x86-64 subset as data, and every way to run it (JAX, Unicorn, native)."""
from isa.model import (CONDITIONS, FORMS, MNEMONICS, REGISTERS_32, REGISTERS_64, Imm, Instruction,
                       Mem, Program, ProgramError, Reg, Target)
from isa.syntax import ParseError, format_instruction, parse, to_text
from isa.encoding import assemble, disassemble, instruction_bytes
from isa.types import BACKENDS, DATA_BASE, Execution, Inputs
from isa.machine import execute
from isa import latency

__all__ = ["CONDITIONS", "FORMS", "MNEMONICS", "REGISTERS_32", "REGISTERS_64", "Imm", "Instruction",
           "Mem", "Program", "ProgramError", "Reg", "Target", "ParseError", "to_text",
           "format_instruction", "parse", "assemble", "disassemble", "instruction_bytes", "BACKENDS",
           "DATA_BASE", "Execution", "Inputs", "execute", "latency"]
