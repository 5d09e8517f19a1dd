"""The result, package-list, order-reading and callback-answer builders."""

import json
import unittest

from assay_plugin import results, types as t


def order(package_id=None, remote_id=None, emails=()):
    return t.Order(
        id="ord-1",
        kind=t.OrderKind.ASSESSMENT,
        account_id="acct-1",
        provider=None,
        remote_id=None,
        package=t.OrderPackage(package_id, remote_id, None, None, []),
        candidate=t.Candidate(None, None, "Ada", "Lovelace", [t.Email(e, None) for e in emails], None),
        application=None,
        job=None,
        requester=None,
        raw_json="{}",
    )


def request(*headers):
    return t.CallbackRequest("POST", "results", None, [t.Header(n, v) for n, v in headers], b"{}")


ALL_VALUES = [
    t.ResultValue_Initiated(),
    t.ResultValue_InProgress(),
    t.ResultValue_Cancelled(),
    t.ResultValue_Completed(),
    t.ResultValue_Expired(),
    t.ResultValue_Failed(),
    t.ResultValue_Passed(),
    t.ResultValue_UnmappedValue("completed"),
]


class Results(unittest.TestCase):
    def test_status_with_the_vendors_word_and_the_rest(self):
        score = results.percent(90)
        result = results.status(
            t.ResultValue_Passed(), "clear", result_url="https://vendor.example/r/1", score=score, summary="fine"
        )
        self.assertEqual(result.status, t.ResultStatus(t.ResultValue_Passed(), "clear"))
        self.assertEqual((result.result_url, result.score, result.summary), ("https://vendor.example/r/1", score, "fine"))
        self.assertEqual(result.attachments, [])
        self.assertIsNone(result.submission_date)
        bare = results.status(t.ResultValue_UnmappedValue("on hold"))
        self.assertEqual(bare.status, t.ResultStatus(t.ResultValue_UnmappedValue("on hold"), None))
        attachment = object()
        self.assertEqual(results.status(t.ResultValue_Completed(), attachments=(attachment,)).attachments, [attachment])

    def test_percent_rounds_halves_up_and_clamps(self):
        cases = [(86.5, "87"), (89.4, "89"), (0.5, "1"), (2.5, "3"), (99.5, "100"), (70, "70"),
                 (-3, "0"), (250, "100"), (float("inf"), "100"), (float("-inf"), "0"), (float("nan"), "0")]
        for value, expected in cases:
            with self.subTest(value=value):
                self.assertEqual(results.percent(value).value, expected)
        self.assertEqual(results.percent(70), t.Score("Overall", "70", "0", "100"))

    def test_is_final_exactly_for_the_values_that_end_an_order(self):
        finals = (t.ResultValue_Completed, t.ResultValue_Passed, t.ResultValue_Failed,
                  t.ResultValue_Expired, t.ResultValue_Cancelled)
        for value in ALL_VALUES:
            with self.subTest(value=value):
                self.assertEqual(results.is_final(value), isinstance(value, finals))
        self.assertEqual(sum(results.is_final(v) for v in ALL_VALUES), 5)

    def test_fresh_for_and_uncached(self):
        packages = [t.Package("q1", "Quiz 1", None, [])]
        self.assertEqual(results.fresh_for(packages, 300, 3600), t.PackageList(packages, t.Freshness(300, 3600)))
        self.assertEqual(results.uncached(packages), t.PackageList(packages, None))
        # u32 whole seconds: clamped, never a value the component could not return.
        self.assertEqual(results.fresh_for(packages, 300.9, -1).freshness, t.Freshness(300, 0))
        self.assertEqual(results.fresh_for(packages, 10**12, 0).freshness, t.Freshness(2**32 - 1, 0))

    def test_package_id_prefers_the_vendors_id_and_skips_blanks(self):
        self.assertEqual(results.package_id(order("so-1", "v-1")), "v-1")
        self.assertEqual(results.package_id(order("so-1", "  ")), "so-1")
        self.assertEqual(results.package_id(order("so-1", None)), "so-1")
        self.assertIsNone(results.package_id(order("", "")))
        self.assertIsNone(results.package_id(order(None, None)))

    def test_candidate_email_is_the_first_non_blank_trimmed(self):
        self.assertEqual(results.candidate_email(order(emails=(" ", " ada@example.com ", "b@example.com"))), "ada@example.com")
        self.assertIsNone(results.candidate_email(order(emails=("",))))
        self.assertIsNone(results.candidate_email(order()))

    def test_header_is_case_insensitive_first_and_utf8(self):
        req = request(("x-quiz-signature", b"abc"), ("X-Quiz-Signature", b"second"), ("x-latin1", b"\xff\xfe"))
        self.assertEqual(results.header(req, "X-QUIZ-SIGNATURE"), "abc")
        self.assertEqual(results.header(req, "x-quiz-signature"), "abc")
        self.assertEqual(results.header(request(("Content-Type", b"text/plain")), "content-type"), "text/plain")
        self.assertIsNone(results.header(req, "x-latin1"))
        self.assertIsNone(results.header(req, "authorization"))

    def test_json_response(self):
        response = results.json_response(202, {"ok": True, "id": "é"})
        self.assertEqual(response.status, 202)
        self.assertEqual(response.headers, [t.Header("content-type", b"application/json")])
        self.assertEqual(json.loads(response.body), {"ok": True, "id": "é"})

    def test_reply_handled_and_unknown(self):
        response = results.json_response(200, {})
        outcome = [t.OrderResult(t.OrderRef_OrderId("ord-1"), results.status(t.ResultValue_Passed()))]
        self.assertEqual(results.reply(response), t.CallbackOutcome_Handled(t.CallbackHandled(response, [])))
        self.assertEqual(results.handled(response, outcome), t.CallbackOutcome_Handled(t.CallbackHandled(response, outcome)))
        self.assertEqual(results.unknown("no invitation inv-9"), t.CallbackOutcome_Unknown("no invitation inv-9"))


if __name__ == "__main__":
    unittest.main()
