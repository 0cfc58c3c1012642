"""The `inferguard` command line.

`run()` is the console script. The commands are click commands (`inferguard.cli.app`); the
evaluating ones are first offered to the start-up fast path (`inferguard.cli.fast`), which
runs a plainly valid command line without importing click and leaves every other line
(help, usage errors, the other commands) to click.
"""
from __future__ import annotations


def run() -> None:
    import sys

    from inferguard.cli.fast import try_fast

    try_fast(sys.argv[1:])
    from inferguard.cli.app import main

    main()
