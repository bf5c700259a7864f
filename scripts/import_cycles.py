"""Import circles among the project's modules: ``python -m scripts.import_cycles [PKG_DIR ...]``.

Reads each module with the standard library's ``ast`` (nothing is imported) and prints every
circle: each group of modules that import one another, with one circle through them spelled
out. Exits 1 when there is one, 0 when there is none. Imports inside functions and under
``if TYPE_CHECKING:`` count too: a circle that a late or type-only import hides is still a
circle in the design. Without arguments it reads the tap and every workspace member.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = [ROOT / "tap_quickbooks", *sorted(ROOT.glob("packages/*/*/__init__.py"))]


def package_dirs(args: list[str]) -> list[Path]:
    if args:
        return [Path(a).resolve() for a in args]
    return [p.parent if p.name == "__init__.py" else p for p in PACKAGES]


def modules(package: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of one package directory."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules that module ``name`` imports."""
    is_package = path.name == "__init__.py"
    here = name if is_package else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # `from pkg import mod` imports the module pkg.mod; `from mod import name`, mod.
                sub = f"{base}.{alias.name}"
                targets.add(sub if sub in known else base)
    return {t for t in targets if t in known and t != name}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:  # node is the root of a group: pop it off the stack
            group = stack[stack.index(node) :]
            del stack[stack.index(node) :]
            on_stack.difference_update(group)
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


def circle_through(group: list[str], graph: dict[str, set[str]]) -> list[str]:
    """One shortest circle from the group's first module back to itself."""
    start, members = group[0], set(group)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node] & members):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    return group  # unreachable for a strongly connected group


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.import_cycles")
    parser.add_argument("packages", nargs="*", help="package directories (default: all ours)")
    args = parser.parse_args(argv)
    files: dict[str, Path] = {}
    for package in package_dirs(args.packages):
        if not (package / "__init__.py").is_file():
            print(f"{package} is not a package directory (no __init__.py)", file=sys.stderr)
            return 2
        files |= modules(package)
    graph = {name: imported(name, path, set(files)) for name, path in files.items()}
    found = cycles(graph)
    for group in found:
        print(f"{len(group)} modules in a circle: {', '.join(group)}")
        print(f"  e.g. {' -> '.join(circle_through(group, graph))}")
    print(f"{len(files)} modules, {len(found)} import circle(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
