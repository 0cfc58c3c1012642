"""core/paths.py gives the strings pathlib gives (it stands in for pathlib on the start-up path)."""
from __future__ import annotations

from pathlib import PurePosixPath

from hypothesis import given, settings, strategies as st

from inferguard.core import paths

_piece = st.sampled_from(["a", "b", "c.yaml", ".", "..", "", ".hidden", "x y", "é"])
_path = st.lists(_piece, max_size=6).map("/".join) | st.lists(_piece, max_size=6).map(lambda p: "/" + "/".join(p)) \
    | st.lists(_piece, max_size=6).map(lambda p: "//" + "/".join(p)) | st.lists(_piece, max_size=6).map(lambda p: "///" + "/".join(p))


@settings(max_examples=600, deadline=None)
@given(_path, _path, st.sampled_from(["n.yaml", "x", ".m"]))
def test_the_same_texts_as_pathlib(p, base, name):
    pp, pb = PurePosixPath(p), PurePosixPath(base)
    assert paths.pure(p) == str(pp)
    assert paths.parts(p) == pp.parts
    assert paths.join(base, name) == str(pb / name)
    try:
        want = str(pp.relative_to(pb))
    except ValueError:
        want = None
    assert paths.relative_to(p, base) == want
    assert paths.within(p, base) == (pb in pp.parents)


def test_examples():
    assert paths.pure("") == "." and paths.pure("a//b/./c/") == "a/b/c" and paths.pure("//x") == "//x"
    assert paths.relative_to("/a/b/c.yaml", "/a") == "b/c.yaml" and paths.relative_to("/a", "/a") == "."
    assert paths.relative_to("/ab", "/a") is None and paths.join(".", "x") == "x" and paths.join("/", "x") == "/x"
