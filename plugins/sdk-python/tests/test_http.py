"""The URL helpers and the request/response records. Sending
needs the host's ``wasi:http``, so it is covered by the integration tests, not here."""

import json
import unittest

from assay_plugin import errors, http, types as t


# What ``status_error`` and ``Response.json`` make of each answer is checked row by row against
# the table all three SDKs share, in test_conformance.py.


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

    def test_error_for_status_reads_retry_after_from_the_headers(self):
        response = http.Response(503, [("Retry-After", b"3")], b'{"error": {"message": "maintenance"}}')
        with self.assertRaises(Exception) as caught:
            response.error_for_status()
        value = caught.exception.value
        self.assertEqual(value, t.PluginError_UpstreamRetryable(t.RetryableFailure("the vendor answered HTTP 503: maintenance", 3000)))


if __name__ == "__main__":
    unittest.main()
