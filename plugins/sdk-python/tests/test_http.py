"""What the vendor's statuses mean, the URL helpers and the request/response records. Sending
needs the host's ``wasi:http``, so it is covered by the integration tests, not here."""

import json
import unittest

from assay_plugin import errors, http, types as t


def mapped(status, retry_after=None, body=b""):
    """``(case, message, retry_after_ms)`` of what ``status_error`` gives, or None."""
    error = http.status_error(status, retry_after, body)
    if error is None:
        return None
    value = error.value
    if isinstance(value, t.PluginError_UpstreamRetryable):
        return type(value), value.value.message, value.value.retry_after_ms
    return type(value), value.value, None


class StatusError(unittest.TestCase):
    def test_2xx_is_no_error(self):
        for status in (200, 201, 204, 299):
            self.assertIsNone(http.status_error(status, "5", b"oops"))

    def test_every_row_of_the_table(self):
        rows = [
            ((401, 403), t.PluginError_Unauthorized),
            ((404, 410), t.PluginError_NotFound),
            ((408, 425, 429, 500, 502, 503, 504, 599), t.PluginError_UpstreamRetryable),
            ((422,), t.PluginError_Permanent),
            ((400, 402, 405, 409, 413, 415, 418, 451, 499), t.PluginError_InvalidInput),
            ((100, 101, 199, 300, 301, 302, 304, 399), t.PluginError_Permanent),
            ((600, 999), t.PluginError_Permanent),
        ]
        for statuses, case in rows:
            for status in statuses:
                with self.subTest(status=status):
                    got_case, message, _ = mapped(status, None, b"nope")
                    self.assertIs(got_case, case)
                    self.assertEqual(message, f"the vendor answered HTTP {status}: nope")

    def test_retry_after_seconds_become_milliseconds(self):
        self.assertEqual(mapped(503, "7")[2], 7000)
        self.assertEqual(mapped(429, " 120 ")[2], 120_000)
        self.assertEqual(mapped(408, "0")[2], 0)
        self.assertIsNone(mapped(503)[2])
        for junk in ("Wed, 21 Oct 2015 07:28:00 GMT", "-5", "1.5", "", "7s", "²", "٣"):
            with self.subTest(retry_after=junk):
                self.assertIsNone(mapped(503, junk)[2])
        # Too large for u64 milliseconds: saturates, as the Rust SDK does.
        self.assertEqual(mapped(429, "18446744073709551615")[2], 2**64 - 1)
        self.assertIs(mapped(404, "7")[0], t.PluginError_NotFound)

    def test_the_message_quotes_the_vendor(self):
        prefix = "the vendor answered HTTP 400: "

        def said(body):
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            return mapped(400, None, raw)[1]

        self.assertEqual(said({"error_description": "token expired", "message": "m"}), prefix + "token expired")
        self.assertEqual(said({"message": "bad email", "detail": "d", "error": "e"}), prefix + "bad email")
        self.assertEqual(said({"detail": "no such test", "error": "e"}), prefix + "no such test")
        self.assertEqual(said({"error": "invalid_grant"}), prefix + "invalid_grant")
        self.assertEqual(said({"error": {"message": "  nested words  ", "code": 7}}), prefix + "nested words")
        self.assertEqual(said({"message": 42, "detail": "the detail"}), prefix + "the detail")
        self.assertEqual(said({"code": 7}), prefix + '{"code": 7}')
        self.assertEqual(said(b"  <html>Bad Gateway</html>\n"), prefix + "<html>Bad Gateway</html>")
        self.assertEqual(said(b"[1, 2]"), prefix + "[1, 2]")
        self.assertEqual(said(b"\xff\xfe oops"), prefix + "\ufffd\ufffd oops")
        self.assertEqual(said(b""), prefix)

    def test_the_quote_is_cut_at_quoted_body_chars(self):
        n = http.QUOTED_BODY_CHARS
        prefix = "the vendor answered HTTP 500: "
        self.assertEqual(mapped(500, None, b"x" * (n + 100))[1], prefix + "x" * n)
        self.assertEqual(mapped(500, None, json.dumps({"message": "m" * 2000}).encode())[1], prefix + "m" * n)
        self.assertEqual(mapped(500, None, ("é" * (n + 1)).encode())[1], prefix + "é" * n)


class Urls(unittest.TestCase):
    def test_join_puts_exactly_one_slash(self):
        self.assertEqual(http.join("https://api.example", "v1/tests"), "https://api.example/v1/tests")
        self.assertEqual(http.join("https://api.example/", "/v1/tests"), "https://api.example/v1/tests")
        self.assertEqual(http.join("https://api.example//", "//v1"), "https://api.example/v1")
        self.assertEqual(http.join("https://api.example/api", "t?x=1"), "https://api.example/api/t?x=1")
        self.assertEqual(http.join("https://api.example/api/", ""), "https://api.example/api/")

    def test_encode_component_keeps_unreserved_and_encodes_utf8(self):
        self.assertEqual(http.encode_component("AZaz09-._~"), "AZaz09-._~")
        self.assertEqual(http.encode_component("a b/c?d&e=f#g%h+i"), "a%20b%2Fc%3Fd%26e%3Df%23g%25h%2Bi")
        self.assertEqual(http.encode_component("é"), "%C3%A9")
        self.assertEqual(http.encode_component("🙂"), "%F0%9F%99%82")
        self.assertEqual(http.encode_component("\n"), "%0A")
        self.assertEqual(http.encode_component(""), "")

    def test_split_url(self):
        self.assertEqual(http.split_url("https://api.example/v1?x=1#frag"), ("https", "api.example", "/v1?x=1"))
        self.assertEqual(http.split_url("HTTP://127.0.0.1:8080"), ("http", "127.0.0.1:8080", "/"))
        for bad in ("ftp://api.example/", "api.example/v1", "https:///v1", "https://u:p@api.example/", "https://api.example?x=1"):
            with self.subTest(url=bad):
                with self.assertRaises(Exception) as caught:
                    http.split_url(bad)
                self.assertTrue(errors.is_case(caught.exception, t.PluginError_Permanent))
                self.assertIn(bad, errors.message(caught.exception))


class Records(unittest.TestCase):
    def test_client_builds_requests_with_its_headers_and_timeout(self):
        client = http.Client("https://api.example/").bearer("t0ken").header("X-Api-Version", "2").timeout(5)
        request = client.post("/v1/invitations").header("Idempotency-Key", "ord-1").json({"email": "é"})
        self.assertEqual((request.method, request.url, request.timeout_s), ("POST", "https://api.example/v1/invitations", 5))
        self.assertEqual(
            request.headers,
            [
                ("authorization", "Bearer t0ken"),
                ("x-api-version", "2"),
                ("idempotency-key", "ord-1"),
                ("content-type", "application/json"),
            ],
        )
        self.assertEqual(json.loads(request.body), {"email": "é"})
        # A header of one request does not leak into the client's next one.
        self.assertEqual(len(client.get("x").headers), 2)

    def test_query_and_form(self):
        request = http.Client("https://a.example").get("/s").query("q", "a b&c").query("page", "2")
        self.assertEqual(request.url, "https://a.example/s?q=a%20b%26c&page=2")
        form = http.Request("post", "https://a.example/token").form({"grant_type": "client_credentials", "scope": "a b"})
        self.assertEqual(form.method, "POST")
        self.assertEqual(form.body, b"grant_type=client_credentials&scope=a+b")
        self.assertIn(("content-type", "application/x-www-form-urlencoded"), form.headers)

    def test_response_reads_headers_text_and_json(self):
        response = http.Response(200, [("Content-Type", b"application/json"), ("x-bin", b"\xff")], b'{"id": "inv-1"}')
        self.assertEqual(response.header("content-type"), "application/json")
        self.assertIsNone(response.header("x-bin"))
        self.assertIsNone(response.header("x-missing"))
        self.assertTrue(response.is_success())
        self.assertEqual(response.json(), {"id": "inv-1"})
        self.assertIs(response.error_for_status(), response)

    def test_a_body_that_is_not_json_is_permanent(self):
        response = http.Response(200, [], b"<html>Please wait</html>")
        with self.assertRaises(Exception) as caught:
            response.json()
        self.assertTrue(errors.is_case(caught.exception, t.PluginError_Permanent))
        self.assertIn("HTTP 200", errors.message(caught.exception))

    def test_error_for_status_reads_retry_after_from_the_headers(self):
        response = http.Response(503, [("Retry-After", b"3")], b'{"error": {"message": "maintenance"}}')
        with self.assertRaises(Exception) as caught:
            response.error_for_status()
        value = caught.exception.value
        self.assertEqual(value, t.PluginError_UpstreamRetryable(t.RetryableFailure("the vendor answered HTTP 503: maintenance", 3000)))


if __name__ == "__main__":
    unittest.main()
