"""The README's Python blocks run: each ```python block, in order, in one namespace.

They run in a fresh interpreter with this checkout first on the path, as a reader would paste
them. A failing block is reported with its line number in README.md, and its traceback points
at README.md lines.
"""
from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

# Executes blocks [(first line, source)] from stdin; line numbers in tracebacks are README's.
RUNNER = r"""
import json, sys, traceback
namespace = {"__name__": "__readme__"}
for line, source in json.load(sys.stdin):
    code = compile("\n" * (line - 1) + source, "README.md", "exec")
    try:
        exec(code, namespace)
    except BaseException:
        traceback.print_exc()
        print(f"README.md: the python block starting at line {line} failed", file=sys.stderr)
        sys.exit(1)
"""


def python_blocks(text: str) -> list[tuple[int, str]]:
    """[(line of the block's first code line, code)] for every ```python fence, in order."""
    blocks, start, lines = [], None, text.splitlines()
    for number, line in enumerate(lines, 1):
        fence = line.strip()
        if start is None and re.fullmatch(r"```python\s*", fence):
            start, body = number + 1, []
        elif start is not None and fence == "```":
            blocks.append((start, "\n".join(body) + "\n"))
            start = None
        elif start is not None:
            body.append(line)
    assert start is None, f"README.md: the python block starting at line {start} is never closed"
    return blocks


def test_python_blocks_are_found():
    blocks = python_blocks("x\n```python\na = 1\n```\n```sh\nls\n```\n```python\nb = a\n```\n")
    assert blocks == [(3, "a = 1\n"), (9, "b = a\n")]


def test_readme_python_blocks_run():
    blocks = python_blocks(README.read_text())
    assert blocks, "README.md has no python blocks"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps(blocks), cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    if result.returncode:
        pytest.fail(result.stderr[-4000:], pytrace=False)
