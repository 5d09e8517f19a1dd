"""The callback signature check, against HMAC-SHA256 values computed outside the SDK."""

import hashlib
import hmac
import unittest

from assay_plugin import webhook

BODY = b"The quick brown fox jumps over the lazy dog"
#: HMAC-SHA256 of BODY under "key", a published test vector.
KNOWN = "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"


class VerifyHmacSha256Hex(unittest.TestCase):
    def test_signs_the_known_vector(self):
        self.assertEqual(webhook.sign_hmac_sha256_hex("key", BODY), KNOWN)

    def test_accepts_the_right_signature(self):
        self.assertTrue(webhook.verify_hmac_sha256_hex("key", BODY, KNOWN))
        self.assertTrue(webhook.verify_hmac_sha256_hex("key", bytearray(BODY), KNOWN))

    def test_accepts_any_case_a_prefix_and_surrounding_whitespace(self):
        mixed = "".join(c.upper() if i % 2 else c for i, c in enumerate(KNOWN))
        for signature in (KNOWN.upper(), mixed, "sha256=" + KNOWN, f" sha256={KNOWN.upper()}\n"):
            with self.subTest(signature=signature):
                self.assertTrue(webhook.verify_hmac_sha256_hex("key", BODY, signature))

    def test_refuses_a_wrong_secret_body_or_signature(self):
        self.assertFalse(webhook.verify_hmac_sha256_hex("other", BODY, KNOWN))
        self.assertFalse(webhook.verify_hmac_sha256_hex("key", b"The quick brown fox", KNOWN))
        flipped = ("e" if KNOWN[0] == "f" else "f") + KNOWN[1:]
        self.assertFalse(webhook.verify_hmac_sha256_hex("key", BODY, flipped))
        self.assertFalse(webhook.verify_hmac_sha256_hex("key", BODY, "sha1=" + KNOWN))

    def test_refuses_the_wrong_length(self):
        for signature in (KNOWN[:32], KNOWN[:63], KNOWN + "00", "", "sha256="):
            with self.subTest(signature=signature):
                self.assertFalse(webhook.verify_hmac_sha256_hex("key", BODY, signature))

    def test_refuses_non_hex(self):
        # bytes.fromhex would skip the inner space; the check must not.
        for signature in ("g" + KNOWN[1:], "not hex", KNOWN[:62] + " 8", KNOWN[:62] + "٣٣"):
            with self.subTest(signature=signature):
                self.assertFalse(webhook.verify_hmac_sha256_hex("key", BODY, signature))

    def test_an_empty_secret_is_hmac_with_the_empty_key(self):
        expected = hmac.new(b"", BODY, hashlib.sha256).hexdigest()
        self.assertEqual(webhook.sign_hmac_sha256_hex("", BODY), expected)
        self.assertTrue(webhook.verify_hmac_sha256_hex("", BODY, expected))
        self.assertFalse(webhook.verify_hmac_sha256_hex("", BODY, KNOWN))
        self.assertEqual(
            webhook.sign_hmac_sha256_hex("", b""),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad",
        )

    def test_a_non_ascii_secret_is_its_utf8_bytes(self):
        expected = hmac.new("é🔑".encode(), BODY, hashlib.sha256).hexdigest()
        self.assertTrue(webhook.verify_hmac_sha256_hex("é🔑", BODY, expected))


if __name__ == "__main__":
    unittest.main()
