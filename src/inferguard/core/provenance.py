"""A fixture folder's origin (live, real_capture, derived or synthetic), as its
PROVENANCE.yaml says: what the capability of a coverage-matrix row may rest on."""
from __future__ import annotations

from pathlib import Path

ORIGINS = ("live", "real_capture", "derived", "synthetic")


def fixture_origin(fixture_dir: Path) -> str | None:
    import yaml

    from inferguard.spec.yamlload import safe_load

    prov = fixture_dir / "PROVENANCE.yaml"
    if not prov.is_file():
        return None
    try:
        data = safe_load(prov.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    origin = data.get("origin") if isinstance(data, dict) else None
    return origin if origin in ORIGINS else None
