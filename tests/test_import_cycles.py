"""No import circles: scripts/import_cycles.py over the tap and the workspace members, and over
a package made to have one (so the check can fail)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MEMBERS = sorted(str(p.parent) for p in ROOT.glob("packages/*/*/__init__.py"))
PACKAGES = [str(ROOT / "tap_quickbooks"), *MEMBERS]


def check(*packages: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scripts.import_cycles", *packages],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_tap_and_the_workspace_members_have_no_import_circle():
    assert len(MEMBERS) == 4
    done = check(*PACKAGES)
    assert done.returncode == 0, done.stdout
    assert done.stdout.strip().endswith(" 0 import circle(s)")


def test_a_circle_is_found_through_late_and_type_only_imports(tmp_path):
    pkg = tmp_path / "loop"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from .a import A\n")
    (pkg / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\nA = 1\n"
    )
    (pkg / "b.py").write_text("def f():\n    from loop import a\n    return a\nB = 2\n")
    (pkg / "c.py").write_text("import loop.a\n")
    done = check(str(pkg))
    assert done.returncode == 1
    assert "2 modules in a circle: loop.a, loop.b" in done.stdout
    assert "loop.a -> loop.b -> loop.a" in done.stdout
    assert done.stdout.strip().endswith("4 modules, 1 import circle(s)")


def test_a_directory_that_is_no_package_is_named(tmp_path):
    done = check(str(tmp_path))
    assert done.returncode == 2
    assert f"{tmp_path} is not a package directory" in done.stderr
