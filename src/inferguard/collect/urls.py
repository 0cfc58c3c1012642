"""Checks on URLs given on the command line, before anything is sent."""
from __future__ import annotations

import urllib.parse

from inferguard.core.problems import InputError


def url_problem(url: str, *, base: bool = False) -> str | None:
    """Why `url` cannot be used, or None. `base`: it is a base that route paths are joined to."""
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return "whitespace or control characters (CR, LF, tab...) in the URL"
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return f"not an http(s) URL (scheme {parts.scheme or 'missing'!r})"
    if not parts.hostname:
        return "no host in the URL"
    try:
        port = parts.port
    except ValueError:
        return "the port is not a number from 1 to 65535"
    if port is not None and not 1 <= port <= 65535:
        return "the port is not a number from 1 to 65535"
    if port is None and parts.netloc.endswith(":"):
        return "the port is empty"
    if base and (parts.query or parts.fragment):
        return "a base URL takes no query or fragment"
    return None


def check_url(url: str, flag: str, *, base: bool = False) -> None:
    why = url_problem(url, base=base)
    if why is not None:
        raise InputError(f"{flag} {url!r}: {why}")
