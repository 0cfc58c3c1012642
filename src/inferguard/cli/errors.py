"""How every command ends on an error: one line on stderr and a documented exit code.

Input and usage errors exit 2; an exception raised by InferGuard's own code (or a broken
install) exits 3 with `internal error: ...`. Only the standard library is imported here:
the start-up fast path (`inferguard.cli.fast`) runs a command without importing click.
"""
from __future__ import annotations

import functools
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing is not imported when the command runs
    from typing import Any, Callable

from inferguard.cli.commands import echo


def fail(message: str, code: int = 2) -> None:
    echo(f"inferguard: error: {message}", err=True)
    sys.exit(code)


def internal_failure(exc: BaseException) -> None:
    """A defect of ours (or a broken install): one line, exit 3, never disguised as bad input."""
    from inferguard.core.problems import EXIT_INTERNAL, internal_error_line

    line = internal_error_line(exc)
    if os.environ.get("INFERGUARD_DEBUG"):
        raise exc
    fail(f"internal error: {line} (set INFERGUARD_DEBUG=1 for a traceback)", EXIT_INTERNAL)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Input and spec errors: one line on stderr, exit 2. Anything raised by our own code:
    one line `internal error: ...`, exit 3. Never a traceback (unless INFERGUARD_DEBUG=1)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from inferguard.core.problems import EXIT_INTERRUPTED, InputError, InternalError

        try:
            return fn(*args, **kwargs)
        except KeyboardInterrupt:
            echo("inferguard: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except InputError as exc:
            fail(str(exc))
        except InternalError as exc:
            internal_failure(exc)
        except OSError as exc:
            fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
        except Exception as exc:  # noqa: BLE001 - spec errors are input; everything else is ours
            click = sys.modules.get("click")
            if click is not None and isinstance(exc, click.ClickException):
                raise  # usage errors: click prints them and exits 2
            from inferguard.spec.loader import SpecError

            if isinstance(exc, SpecError):
                fail(f"invalid spec: {exc}")
            internal_failure(exc)

    return wrapper


def check_install_or_exit() -> None:
    """Before any command: a broken install is one line and exit 3 (see core/install_check)."""
    from inferguard.core.install_check import check_install
    from inferguard.core.problems import InternalError

    try:
        check_install()
    except InternalError as exc:
        internal_failure(exc)
