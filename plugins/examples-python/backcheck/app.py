"""BackCheck: the example background-check plugin, in Python.

It behaves as the Rust ``backcheck`` plugin (``plugins/backcheck``) does, against the same
vendor API; that crate's docs are the full description. In short:

- Every call carries ``Authorization: Bearer <api_token>``; paths are under ``base_url``.
  ``GET /v1/packages`` lists packages with their ``checks``; ``POST /v1/checks`` (header
  ``Idempotency-Key: <StackOne order id>``, body ``{"package_id", "reference", "candidate":
  {"first_name", "last_name", "email"}, "callback_url"}``) creates a check, 201 (200 for a
  reference seen before); ``GET /v1/checks/{id}`` answers a check, 404 if unknown.
- A check is ``{"id", "reference", "status", "report_url", "completed_at"}``; its status maps
  to StackOne's result by :func:`status_value`, the vendor's word kept as ``source_value``.
- ``poll-results`` reports only checks in a final status (``clear``, ``consider``,
  ``canceled``, ``expired``): each call is a fresh instance and cannot tell a changed
  progress status from an unchanged one, while a final result ends the order.
- Pushes (optional: ``callback_url`` and ``webhook_secret``) are ``{"event":
  "check.updated", "check": {…}}`` signed ``x-backcheck-signature: hex(HMAC-SHA256(secret,
  raw body))``; a bad signature is answered 401 with no results. A push whose check has no
  ``reference`` is looked up at BackCheck, and declined as unknown if BackCheck has no such
  check.
- ``fulfil-order`` turns a check BackCheck answers as ``canceled`` into the ``cancelled``
  error, returns another final status as the first result, and ``initiated`` otherwise; a 422
  is ``permanent`` with BackCheck's own message.
"""

import json
from typing import Any, Dict, List, Optional

from assay_plugin import Plugin
from assay_plugin import errors, http, log, results, settings, webhook
from assay_plugin import types as t
from componentize_py_types import Err

NAME = "backcheck"
VERSION = "0.1.0"
#: The header BackCheck signs its pushes in.
SIGNATURE_HEADER = "x-backcheck-signature"
#: The event of a push.
UPDATED_EVENT = "check.updated"
#: The longest wait for one check while polling, so one slow answer cannot use up the call.
POLL_REQUEST_TIMEOUT_S = 5
#: How long the host may answer the package list from its cache.
PACKAGES_MAX_AGE_S = 300
#: How much longer the host may answer with the cached list while BackCheck is down.
PACKAGES_STALE_IF_ERROR_S = 3600
#: The vendor statuses that end a check.
FINAL_STATUSES = ("clear", "consider", "canceled", "cancelled", "expired")


def declared_settings() -> List[t.SettingSpec]:
    """The settings ``metadata`` declares: only the API is required, since polling finds
    every result."""
    return [
        settings.required("base_url", "BackCheck's API, e.g. https://api.backcheck.example"),
        settings.secret("api_token", "BackCheck API token"),
        settings.optional(
            "callback_url",
            "This product's callback route on the host; BackCheck then pushes status changes",
        ),
        settings.optional_secret(
            "webhook_secret",
            "Secret BackCheck signs its pushes with; without it pushes are refused",
        ),
        settings.optional(
            "packages",
            "A fixed catalogue as a JSON array of {id, name, description, checks}, answered "
            "without calling BackCheck",
        ),
    ]


def status_value(status: str) -> t.ResultValue:
    """StackOne's result value for a BackCheck status: ``pending``/``processing``/
    ``in_progress`` are in progress, ``clear`` passed, ``consider`` (findings a person must
    review) failed, ``canceled`` cancelled, ``expired`` (no consent in time) expired, anything
    else (``suspended``) an unmapped value carrying the vendor's word."""
    if status in ("pending", "processing", "in_progress"):
        return t.ResultValue_InProgress()
    if status == "clear":
        return t.ResultValue_Passed()
    if status == "consider":
        return t.ResultValue_Failed()
    if status in ("canceled", "cancelled"):
        return t.ResultValue_Cancelled()
    if status == "expired":
        return t.ResultValue_Expired()
    return t.ResultValue_UnmappedValue(status)


_SUMMARIES = {
    t.ResultValue_InProgress: "The check is in progress",
    t.ResultValue_Passed: "Clear: nothing found",
    t.ResultValue_Failed: "Consider: findings need review",
    t.ResultValue_Cancelled: "The check was cancelled",
    t.ResultValue_Expired: "The candidate did not complete the check in time",
}


def check_result(check: Dict[str, Any]) -> t.AssessmentResult:
    """The result for a check: its status, the report as the result link, the completion
    date, and a line for the recruiter."""
    value = status_value(check["status"])
    summary = _SUMMARIES.get(type(value), f"BackCheck status: {check['status']}")
    return results.status(
        value,
        check["status"],
        result_url=check.get("report_url"),
        submission_date=check.get("completed_at"),
        summary=summary,
    )


def cancellation(check: Dict[str, Any]) -> Optional[Err]:
    """The ``cancelled`` error for a check BackCheck has cancelled; ``None`` otherwise."""
    if isinstance(status_value(check["status"]), t.ResultValue_Cancelled):
        return errors.cancelled(f"BackCheck cancelled the check ({check['id']})")
    return None


def order_ref(check: Dict[str, Any]) -> t.OrderRef:
    """StackOne's order id when BackCheck sent it back, else the check id (the order's
    external id)."""
    reference = check.get("reference")
    if isinstance(reference, str) and reference.strip():
        return t.OrderRef_OrderId(reference)
    return t.OrderRef_ExternalId(check["id"])


def as_check(value: Any) -> Dict[str, Any]:
    """A check from BackCheck's JSON; one without a string ``id`` and ``status`` is not the
    expected answer."""
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("id"), str)
        or not isinstance(value.get("status"), str)
    ):
        raise errors.permanent("BackCheck's answer is not a check (no id or status)")
    return value


def as_package(value: Any) -> t.Package:
    """A package of BackCheck's catalogue (or of the ``packages`` setting), its checks as the
    package's tests."""
    try:
        return t.Package(
            value["id"],
            value["name"],
            value.get("description"),
            [
                t.PackageTest(c["id"], c["name"], c.get("description"))
                for c in value.get("checks") or []
            ],
        )
    except (KeyError, TypeError, AttributeError):
        raise errors.permanent("a BackCheck package has no id or name") from None


def api() -> http.Client:
    """The vendor's API, from the settings."""
    return http.Client(settings.require("base_url")).bearer(settings.require("api_token"))


def fetch_check(client: http.Client, check_id: str) -> Dict[str, Any]:
    """The check as BackCheck has it for this product's token; ``not_found`` if it has none."""
    answer = client.get(f"/v1/checks/{http.encode_component(check_id)}").send()
    return as_check(answer.error_for_status().json())


class Product(Plugin):
    def metadata(self) -> t.PluginMetadata:
        return t.PluginMetadata(
            NAME,
            VERSION,
            "BackCheck background checks (Python)",
            [t.OrderKind.BACKGROUND_CHECK],
            declared_settings(),
        )

    def list_packages(self, query: t.PackageQuery) -> t.PackageList:
        catalogue = settings.json("packages")
        if catalogue is None:
            answer = api().get("/v1/packages").send().error_for_status().json()
            catalogue = answer.get("packages") if isinstance(answer, dict) else None
            if not isinstance(catalogue, list):
                raise errors.permanent("BackCheck's package list has no `packages` array")
        elif not isinstance(catalogue, list):
            raise errors.misconfigured("the setting `packages` is not a JSON array")
        return results.fresh_for(
            [as_package(p) for p in catalogue], PACKAGES_MAX_AGE_S, PACKAGES_STALE_IF_ERROR_S
        )

    def fulfil_order(self, order: t.Order) -> t.Fulfilment:
        package_id = results.package_id(order)
        if package_id is None:
            raise errors.invalid_input("the order names no package")
        email = results.candidate_email(order)
        if email is None:
            raise errors.invalid_input("the candidate has no e-mail address")
        body: Dict[str, Any] = {
            "package_id": package_id,
            "reference": order.id,
            "candidate": {
                "first_name": order.candidate.first_name,
                "last_name": order.candidate.last_name,
                "email": email,
            },
        }
        callback_url = settings.get("callback_url")
        if callback_url:
            body["callback_url"] = callback_url
        # A 422 (BackCheck refuses the check as sent) is `permanent` with BackCheck's words,
        # which the recruiter sees in the `failed` result.
        answer = (
            api()
            .post("/v1/checks")
            .header("idempotency-key", order.id)
            .json(body)
            .send()
            .error_for_status()
        )
        check = as_check(answer.json())
        log.info("background check created", order=order.id, check=check["id"], status=check["status"])
        cancelled = cancellation(check)
        if cancelled is not None:
            raise cancelled
        # A repeated call may find the check already finished: report that rather than
        # `initiated`, which would be dropped after the final result anyway.
        if results.is_final(status_value(check["status"])):
            first = check_result(check)
        else:
            first = results.status(
                t.ResultValue_Initiated(), check["status"], summary="Background check requested"
            )
        return t.Fulfilment(check["id"], None, first)

    def handle_callback(self, request: t.CallbackRequest) -> t.CallbackOutcome:
        secret = settings.get("webhook_secret")
        if not secret:
            return results.reply(
                results.json_response(404, {"error": "BackCheck pushes are not configured"})
            )
        if request.method.upper() != "POST":
            return results.reply(results.json_response(405, {"error": "POST only"}))
        signature = results.header(request, SIGNATURE_HEADER)
        if signature is None or not webhook.verify_hmac_sha256_hex(secret, request.body, signature):
            log.warn("push with a missing or wrong signature refused", path=request.path)
            return results.reply(results.json_response(401, {"error": "bad signature"}))
        try:
            event = json.loads(request.body)
            kind = event["event"]
            pushed = as_check(event["check"]) if kind == UPDATED_EVENT else None
        except (ValueError, KeyError, TypeError, Err) as e:
            reason = errors.message(e) if isinstance(e, Err) else str(e)
            return results.reply(
                results.json_response(400, {"error": f"not a BackCheck event: {reason}"})
            )
        if pushed is None:
            return results.reply(results.json_response(200, {"ok": True, "ignored": kind}))
        order = order_ref(pushed)
        if isinstance(order, t.OrderRef_ExternalId):
            try:
                order = order_ref(fetch_check(api(), pushed["id"]))
            except Err as e:
                if isinstance(e.value, t.PluginError_NotFound):
                    return results.unknown(
                        f"BackCheck has no check {pushed['id']} for this product"
                    )
                raise
        log.info("check updated", check=pushed["id"], status=pushed["status"])
        return results.handled(
            results.json_response(200, {"ok": True}),
            [t.OrderResult(order, check_result(pushed))],
        )

    def poll_results(self, pending: List[t.PendingOrder]) -> List[t.OrderResult]:
        client = api().timeout(POLL_REQUEST_TIMEOUT_S)
        found: List[t.OrderResult] = []
        for order in pending:
            try:
                check = fetch_check(client, order.external_id)
            except Err as e:
                if isinstance(e.value, t.PluginError_Unauthorized):
                    # Every other check would be refused too: the operator must act.
                    raise
                if isinstance(e.value, t.PluginError_UpstreamRetryable):
                    # The vendor is struggling: stop asking. What was found is still
                    # delivered; the rest waits for the next poll.
                    log.warn("polling stopped early", check=order.external_id, error=errors.message(e))
                    if not found:
                        raise
                    return found
                # One odd check must not hold up the others.
                log.warn("check skipped", check=order.external_id, error=errors.message(e))
                continue
            if results.is_final(status_value(check["status"])):
                found.append(t.OrderResult(order_ref(check), check_result(check)))
        return found
