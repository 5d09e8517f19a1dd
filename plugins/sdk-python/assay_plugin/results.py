"""Conveniences for the contract's records: reading an order or a callback, building results,
package lists and callback outcomes. The records themselves are the generated dataclasses of
``wit_world.imports.assay_plugin_types`` (re-exported as ``assay_plugin.types``)."""

import json as _json
import math
from typing import Any, List, Optional

from wit_world.imports import assay_plugin_types as t

#: The result values that end an order: the host stops polling it, and drops a progress
#: result that arrives later.
FINAL_VALUES = (
    t.ResultValue_Completed,
    t.ResultValue_Passed,
    t.ResultValue_Failed,
    t.ResultValue_Expired,
    t.ResultValue_Cancelled,
)


def is_final(value: t.ResultValue) -> bool:
    """Whether ``value`` ends the order."""
    return isinstance(value, FINAL_VALUES)


def status(
    value: t.ResultValue,
    source_value: Optional[str] = None,
    *,
    result_url: Optional[str] = None,
    submission_date: Optional[str] = None,
    start_date: Optional[str] = None,
    summary: Optional[str] = None,
    score: Optional[t.Score] = None,
    candidate_profile_url: Optional[str] = None,
    attachments: Optional[List[t.Attachment]] = None,
) -> t.AssessmentResult:
    """A result with a status (the vendor's own word as ``source_value``) and whatever else
    is known."""
    return t.AssessmentResult(
        score=score,
        status=t.ResultStatus(value, source_value),
        result_url=result_url,
        start_date=start_date,
        submission_date=submission_date,
        summary=summary,
        attachments=list(attachments or []),
        candidate_profile_url=candidate_profile_url,
    )


def percent(value: float) -> t.Score:
    """An ``Overall`` score of ``value`` rounded to a whole number (halves up, as the Rust and
    TypeScript SDKs do: 86.5 is 87) and clamped to 0..100, out of 0..100: what the recruiter
    sees as a percentage. NaN counts as 0."""
    # Not ``round``: it rounds halves to even (86.5 would be 86).
    whole = 0 if value != value else math.floor(min(max(value, 0.0), 100.0) + 0.5)
    return t.Score("Overall", str(whole), "0", "100")


def fresh_for(packages: List[t.Package], max_age_s: int, stale_if_error_s: int) -> t.PackageList:
    """A package list the host may reuse for ``max_age_s`` seconds, and for
    ``stale_if_error_s`` more while the vendor is down. Both are WIT ``u32``: whole seconds,
    clamped to 0..2**32-1 (a value outside would fail when the call returns)."""
    return t.PackageList(packages, t.Freshness(_u32(max_age_s), _u32(stale_if_error_s)))


def _u32(seconds: float) -> int:
    return min(max(int(seconds), 0), 2**32 - 1)


def uncached(packages: List[t.Package]) -> t.PackageList:
    """A package list the host must ask for every time."""
    return t.PackageList(packages, None)


def package_id(order: t.Order) -> Optional[str]:
    """The vendor's package id: ``package.remote_id`` (the id ``list-packages`` returned) if
    StackOne sent one, else ``package.id``. Blank ids count as missing."""
    for candidate in (order.package.remote_id, order.package.id):
        if candidate is not None and candidate.strip():
            return candidate
    return None


def candidate_email(order: t.Order) -> Optional[str]:
    """The candidate's first non-blank e-mail address (StackOne lists the preferred first)."""
    for email in order.candidate.emails:
        if email.value.strip():
            return email.value.strip()
    return None


def header(request: t.CallbackRequest, name: str) -> Optional[str]:
    """The first value of header ``name`` of a callback (case-insensitive), if present and
    UTF-8."""
    for h in request.headers:
        if h.name.lower() == name.lower():
            try:
                return bytes(h.value).decode()
            except UnicodeDecodeError:
                return None
    return None


def json_response(status_code: int, body: Any) -> t.CallbackResponse:
    """A callback response with ``status_code`` and ``body`` as JSON."""
    return t.CallbackResponse(
        status_code,
        [t.Header("content-type", b"application/json")],
        _json.dumps(body, separators=(",", ":")).encode(),
    )


def reply(response: t.CallbackResponse) -> t.CallbackOutcome:
    """A handled callback that only answers the caller (a refused signature, an ignored
    event)."""
    return handled(response, [])


def handled(response: t.CallbackResponse, results: List[t.OrderResult]) -> t.CallbackOutcome:
    """A handled callback: ``results`` go to StackOne, and the host sends ``response`` once
    they are stored."""
    return t.CallbackOutcome_Handled(t.CallbackHandled(response, results))


def unknown(reason: str) -> t.CallbackOutcome:
    """The callback names something this plugin does not know: the host answers 404 with
    ``reason``, counts and logs it, and stores nothing."""
    return t.CallbackOutcome_Unknown(reason)
