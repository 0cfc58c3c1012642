"""Shell-style name patterns (`*.log`, `lookup_hashes_*.jsonl`) matched without compiling a regex.

The packet file patterns and the log-pattern id globs of the specs use `*` only; fnmatch
translates and compiles a regex for each distinct pattern, which costs more than the
whole classification of a small packet. A pattern made of literal text and `*` is matched
here by its pieces; any other pattern (`?`, `[...]`) goes to fnmatch. The answer is the
same as fnmatch.fnmatchcase's (and, through `match`, fnmatch.fnmatch's).
"""
from __future__ import annotations

import os


def matchcase(name: str, pattern: str) -> bool:
    """fnmatch.fnmatchcase(name, pattern)."""
    if "?" in pattern or "[" in pattern:
        import fnmatch

        return fnmatch.fnmatchcase(name, pattern)
    if "*" not in pattern:
        return name == pattern
    pieces = pattern.split("*")
    head, tail = pieces[0], pieces[-1]
    if len(name) < len(head) + len(tail) or not name.startswith(head) or not name.endswith(tail):
        return False
    # The middle pieces in order, each at its leftmost place, between head and tail.
    pos, end = len(head), len(name) - len(tail)
    for piece in pieces[1:-1]:
        if not piece:
            continue
        at = name.find(piece, pos, end)
        if at < 0:
            return False
        pos = at + len(piece)
    return True


def match(name: str, pattern: str) -> bool:
    """fnmatch.fnmatch(name, pattern): both sides normalised for case as the OS does."""
    return matchcase(os.path.normcase(name), os.path.normcase(pattern))
