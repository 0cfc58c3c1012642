"""`inferguard --help` (and each command's --help) parses no YAML and imports none of the
heavy dependencies: the command line is declared from the compiled registry (JSON)."""
from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("yaml", "jsonschema", "prometheus_client", "msgpack", "jmespath")

CODE = """
import sys
from inferguard.cli.app import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(" ".join(sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["--help"], ["evaluate", "--help"], ["observability-coverage", "--help"],
                                  ["lmcache-compat", "--help"]])
def test_help_imports_nothing_heavy(tmp_path, args):
    r = subprocess.run([sys.executable, "-c", CODE.format(heavy=set(HEAVY)), *args], capture_output=True, text=True,
                       timeout=120, env={"PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(tmp_path)})
    assert "Usage:" in r.stdout, r.stderr
    assert r.stderr.strip().splitlines()[-1:] in ([], [""]), f"imported: {r.stderr.strip().splitlines()[-1]}"
    assert not any((tmp_path / "inferguard").glob("specs-*")) if (tmp_path / "inferguard").exists() else True
