"""House rules that keep the design true: lib/ never imports streamlit."""
from __future__ import annotations

import ast

from lib import config


def test_lib_never_imports_streamlit():
    offenders = []
    for path in sorted((config.ROOT / "lib").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}:{node.lineno}" for n in names if n.split(".")[0] == "streamlit"]
    assert not offenders, f"lib/ must not import streamlit: {offenders}"
