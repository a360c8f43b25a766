"""House rules that keep the design true: lib/ never imports streamlit; only lib.core.clock reads the wall clock."""
from __future__ import annotations

import ast
import re

import pytest

from lib.core import config


def test_lib_never_imports_streamlit():
    offenders = []
    for path in sorted((config.ROOT / "lib").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}:{node.lineno}" for n in names if n.split(".")[0] == "streamlit"]
    assert not offenders, f"lib/ must not import streamlit: {offenders}"


# Ways Python code reads the machine's date or time. lib/core/clock.py is the one place allowed to.
_WALL_CLOCK = re.compile(
    r"\b(?:date|datetime)\s*\.\s*(?:today|now|utcnow)\s*\("        # date.today(), datetime.now(), dt.datetime.utcnow()
    r"|\btime\s*\.\s*(?:time|time_ns|localtime|gmtime|ctime|strftime)\s*\("  # time.time(), time.localtime() ...
    r"|\bTimestamp\s*\.\s*(?:now|today|utcnow)\s*\("                # pd.Timestamp.now()
    r"|\b(?:Timestamp|to_datetime|datetime64)\s*\(\s*['\"](?:now|today)['\"]"  # pd.Timestamp("today")
    r"|\bfunc\s*\.\s*(?:now|current_date|current_timestamp|localtimestamp)\b"  # the database server's clock
    r"|\b(?:CURRENT_DATE|CURRENT_TIMESTAMP|LOCALTIMESTAMP)\b")


def _code_files():
    yield config.ROOT / "app.py"
    for folder in ("lib", "pages"):
        yield from sorted((config.ROOT / folder).rglob("*.py"))


def test_no_module_but_the_clock_reads_the_wall_clock():
    clock_file = (config.ROOT / "lib" / "core" / "clock.py").resolve()
    offenders = [f"{path.relative_to(config.ROOT)}:{n}: {line.strip()}"
                 for path in _code_files() if path.resolve() != clock_file
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if _WALL_CLOCK.search(line.split("#", 1)[0])]
    assert not offenders, "read the date and time from lib.core.clock, not the wall clock:\n" + "\n".join(offenders)


@pytest.mark.parametrize("line", [
    "x = dt.date.today()", "now = datetime.now()", "t = time.time()", "ts = pd.Timestamp.now()",
    "d = pd.Timestamp('today')", "sa.Column('at', server_default=sa.func.now())", "SELECT CURRENT_DATE",
    "int(time.time() * 1000)", "datetime.datetime.utcnow ()",
])
def test_the_wall_clock_check_sees_each_way_of_reading_it(line):
    assert _WALL_CLOCK.search(line)


@pytest.mark.parametrize("line", [
    "clock.today()", "clock.now()", "time.perf_counter()", "time.monotonic()", "dt.date.fromisoformat(s)",
    "pd.Timestamp(as_of)", "last_date(run)",
])
def test_the_wall_clock_check_lets_durations_and_the_clock_pass(line):
    assert not _WALL_CLOCK.search(line)


def _import_cycles(graph) -> list[list[str]]:
    """Groups of lib modules that import each other, directly or round a loop (Tarjan's strongly connected parts)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in graph.find_modules_directly_imported_by(module):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = []
            while (member := stack.pop()) != module:
                group.append(member)
            if group:
                cycles.append(sorted([module, *group]))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return cycles


def test_no_import_cycles_between_lib_modules():
    import grimp  # import-linter's graph builder (requirements-dev)
    cycles = _import_cycles(grimp.build_graph("lib", exclude_type_checking_imports=True))
    assert not cycles, f"modules importing each other round a loop: {cycles}"


def test_the_cycle_check_sees_a_loop():
    class Graph:
        modules = {"a", "b", "c", "d"}
        edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

        def find_modules_directly_imported_by(self, module):
            return self.edges.get(module, set())

    assert _import_cycles(Graph()) == [["a", "b", "c"]]


def test_lib_has_no_module_outside_its_packages():
    loose = sorted(p.name for p in (config.ROOT / "lib").glob("*.py") if p.name != "__init__.py")
    assert not loose, f"put these in the package of their capability: {loose}"
