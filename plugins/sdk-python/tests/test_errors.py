"""The plugin errors: each case is an ``Err`` around the WIT ``plugin-error`` variant."""

import unittest

from componentize_py_types import Err

from assay_plugin import errors, types as t


class Cases(unittest.TestCase):
    def test_each_builder_gives_its_case_and_message(self):
        cases = [
            (errors.invalid_input, t.PluginError_InvalidInput),
            (errors.unauthorized, t.PluginError_Unauthorized),
            (errors.not_found, t.PluginError_NotFound),
            (errors.permanent, t.PluginError_Permanent),
            (errors.misconfigured, t.PluginError_Misconfigured),
            (errors.cancelled, t.PluginError_Cancelled),
        ]
        for build, case in cases:
            with self.subTest(case=case.__name__):
                error = build("what happened")
                self.assertIsInstance(error, Err)
                self.assertIsInstance(error, BaseException)
                self.assertEqual(error.value, case("what happened"))
                self.assertEqual(errors.message(error), "what happened")
                self.assertEqual(errors.message(error.value), "what happened")
                self.assertTrue(errors.is_case(error, case))
                others = [c for _, c in cases if c is not case] + [t.PluginError_UpstreamRetryable]
                self.assertFalse(any(errors.is_case(error, c) for c in others))

    def test_retryable_carries_the_hint_in_milliseconds(self):
        error = errors.retryable("busy")
        self.assertEqual(error.value, t.PluginError_UpstreamRetryable(t.RetryableFailure("busy", None)))
        self.assertEqual(errors.message(error), "busy")
        self.assertTrue(errors.is_case(error, t.PluginError_UpstreamRetryable))
        self.assertEqual(errors.retryable("busy", 1.5).value.value.retry_after_ms, 1500)
        self.assertEqual(errors.retryable("busy", 30).value.value.retry_after_ms, 30_000)

    def test_a_hint_outside_u64_milliseconds_is_brought_into_range(self):
        def hint(seconds):
            return errors.retryable("busy", seconds).value.value.retry_after_ms

        self.assertEqual(hint(0), 0)
        self.assertEqual(hint(0.0019), 1)
        self.assertEqual(hint(-5), 0)
        self.assertEqual(hint(float("nan")), 0)
        self.assertEqual(hint(float("inf")), 2**64 - 1)
        self.assertEqual(hint(10**30), 2**64 - 1)
        self.assertEqual(hint(2**64 // 1000), (2**64 // 1000) * 1000)

    def test_raised_and_caught(self):
        with self.assertRaises(Err) as caught:
            raise errors.not_found("order 7")
        self.assertTrue(errors.is_case(caught.exception, t.PluginError_NotFound))
        self.assertFalse(errors.is_case(ValueError("x"), t.PluginError_NotFound))


if __name__ == "__main__":
    unittest.main()
