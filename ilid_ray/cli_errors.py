"""What `ilid` prints when a command fails: one line saying what went wrong and what to do, exit
code 1 (click's usage errors keep exit code 2), the traceback only with `ilid --debug ...`."""

from __future__ import annotations

import sys

import click

DEBUG_HINT = "rerun with `ilid --debug ...` for the traceback"


def _root_cause(exc: BaseException) -> BaseException:
    """The worker's exception of a failed Ray task or actor, else `exc`."""
    if "ray" in sys.modules:
        from ray.exceptions import RayTaskError

        while isinstance(exc, RayTaskError) and exc.cause is not None:
            exc = exc.cause
    return exc


def _expected(exc: BaseException) -> bool:
    """Bad input or environment (a missing file, a bad value, a file that is not YAML, a refusal of
    ours), not a bug."""
    return isinstance(exc, (OSError, ValueError)) or type(exc).__module__.startswith(("ilid_ray.", "yaml."))


def _validation_line(exc) -> str:
    errors = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
                       for e in exc.errors()[:5])
    more = f" (+{exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
    return f"invalid {exc.title} config: {errors}{more}"


def one_line(exc: BaseException) -> str:
    """`exc` as one line of text for a user."""
    exc = _root_cause(exc)
    try:
        from pydantic import ValidationError
    except ImportError:  # pragma: no cover - pydantic is a core dependency
        ValidationError = ()  # noqa: N806
    if isinstance(exc, ValidationError):
        return _validation_line(exc)
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, FileNotFoundError) and exc.filename and str(exc.filename) not in text:
        text = f"{text}: {exc.filename}"
    if not _expected(exc):
        return f"{type(exc).__name__}: {text} (unexpected; {DEBUG_HINT})"
    return text


def as_click_error(exc: Exception) -> click.ClickException:
    return click.ClickException(one_line(exc))
