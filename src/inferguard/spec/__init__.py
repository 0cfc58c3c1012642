"""Spec loading and compilation. Import-light: the heavy work happens in load_specs()."""
from __future__ import annotations


def load_specs(paths=None, *, strict: bool = True, trust_cache: bool = False):
    from inferguard.spec.loader import load_specs as _load

    return _load(paths, strict=strict, trust_cache=trust_cache)


def default_specs():
    from inferguard.spec.loader import default_specs as _default

    return _default()
