"""Building and reading the errors a plugin call returns.

A call fails by raising ``Err(PluginError_…)`` (``componentize_py_types.Err``); the functions
here build that exception, so a plugin writes ``raise errors.permanent("…")``. The host
decides what to do from the case alone, never from the message, so pick the case by what
*should happen*:

============================  ====================================================
case                          the host
============================  ====================================================
``invalid_input``             stops (the order or request cannot be served as is)
``unauthorized``              stops; the operator must fix the credentials
``not_found``                 stops
``retryable``                 tries again later (``retry_after_s`` is a hint)
``permanent``                 stops; an order gets a ``failed`` result with the message
``misconfigured``             answers 503 naming the product; orders are retried
``cancelled``                 parks the order; StackOne gets a ``cancelled`` result
============================  ====================================================
"""

from typing import Optional

from componentize_py_types import Err
from wit_world.imports import assay_plugin_types as t


def invalid_input(message: str) -> Err:
    """The order or request cannot be served as it is."""
    return Err(t.PluginError_InvalidInput(message))


def unauthorized(message: str) -> Err:
    """The vendor refused the product's credentials."""
    return Err(t.PluginError_Unauthorized(message))


def not_found(message: str) -> Err:
    """Something the call named does not exist at the vendor."""
    return Err(t.PluginError_NotFound(message))


def permanent(message: str) -> Err:
    """Retrying will not help. For an order, StackOne gets a ``failed`` result with
    ``message`` as its source value, so write it for the recruiter."""
    return Err(t.PluginError_Permanent(message))


def misconfigured(message: str) -> Err:
    """The product's settings are missing or wrong. Name the key, never its value."""
    return Err(t.PluginError_Misconfigured(message))


def cancelled(message: str) -> Err:
    """The vendor cancelled the order."""
    return Err(t.PluginError_Cancelled(message))


def retryable(message: str, retry_after_s: Optional[float] = None) -> Err:
    """A passing failure: the host tries again, no sooner than ``retry_after_s`` if given.

    The hint travels as a WIT ``u64`` of milliseconds: a fraction of a millisecond is dropped,
    a negative or NaN hint is 0, and one beyond the ``u64`` range (infinity too) saturates, as
    in the Rust SDK, instead of failing when the call returns."""
    return Err(t.PluginError_UpstreamRetryable(t.RetryableFailure(message, _u64_millis(retry_after_s))))


_U64_MAX = 2**64 - 1


def _u64_millis(seconds: Optional[float]) -> Optional[int]:
    if seconds is None:
        return None
    if seconds != seconds or seconds <= 0:
        return 0
    if seconds == float("inf"):
        return _U64_MAX
    return min(int(seconds * 1000), _U64_MAX)


def message(error: "Err | t.PluginError") -> str:
    """The message of an error, whatever its case."""
    value = error.value if isinstance(error, Err) else error
    if isinstance(value, t.PluginError_UpstreamRetryable):
        return value.value.message
    return value.value


def is_case(error: BaseException, case: type) -> bool:
    """Whether ``error`` is a plugin error of ``case``, e.g.
    ``is_case(e, PluginError_NotFound)``."""
    return isinstance(error, Err) and isinstance(error.value, case)
