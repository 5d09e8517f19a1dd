"""The table every Assay SDK is checked against, ``plugins/sdk-conformance/http-status.json`` (a
project ``assay plugin new`` wrote carries it in the SDK as ``conformance/http-status.json``):
what ``status_error`` and ``Response.json`` make of a vendor's answer, row by row."""

import json
import pathlib
import unittest

from componentize_py_types import Err

from assay_plugin import http, types as t

_SDK = pathlib.Path(__file__).resolve().parent.parent
_CANDIDATES = [_SDK / "conformance" / "http-status.json", _SDK.parent / "sdk-conformance" / "http-status.json"]

_CASES = {
    t.PluginError_InvalidInput: "invalid-input",
    t.PluginError_Unauthorized: "unauthorized",
    t.PluginError_NotFound: "not-found",
    t.PluginError_UpstreamRetryable: "upstream-retryable",
    t.PluginError_Permanent: "permanent",
    t.PluginError_Misconfigured: "misconfigured",
    t.PluginError_Cancelled: "cancelled",
}


def _table():
    for path in _CANDIDATES:
        if path.exists():
            return json.loads(path.read_text(encoding="utf-8"))
    raise AssertionError(f"no conformance table at {[str(p) for p in _CANDIDATES]}")


def _body(row):
    if "body_hex" in row:
        return bytes.fromhex(row["body_hex"])
    return row["body"].encode()


def _described(error):
    """The case, message and hint of an error, as the table writes them."""
    value = error.value
    if isinstance(value, t.PluginError_UpstreamRetryable):
        ms = value.value.retry_after_ms
        return {"case": _CASES[type(value)], "message": value.value.message, "retry_after_ms": None if ms is None else str(ms)}
    return {"case": _CASES[type(value)], "message": value.value, "retry_after_ms": None}


class Conformance(unittest.TestCase):
    def test_every_row_of_the_shared_status_table(self):
        table = _table()
        self.assertEqual(table["quoted_body_bytes"], http.QUOTED_BODY_BYTES)
        rows = table["status"]
        self.assertGreater(len(rows), 50)
        failed = []
        for row in rows:
            error = http.status_error(row["status"], row.get("retry_after"), _body(row))
            got = {"case": None} if error is None else _described(error)
            want = {"case": None} if row["case"] is None else {k: row[k] for k in ("case", "message", "retry_after_ms")}
            if got != want:
                failed.append(f"{row['name']}: got {got!r}, want {want!r}")
        self.assertEqual(failed, [], f"{len(failed)} of {len(rows)} rows differ:\n" + "\n".join(failed))

    def test_every_row_of_the_shared_json_table(self):
        rows = _table()["json"]
        self.assertGreater(len(rows), 10)
        failed = []
        for row in rows:
            response = http.Response(row["status"], [], _body(row))
            try:
                got = response.json()
                ok = got == row["value"] if "value" in row else row.get("parses") is True
            except Err as e:
                got = _described(e)
                ok = got["case"] == row.get("case") and got["message"].startswith(row.get("message_prefix", "\0"))
            except Exception as e:  # anything but a plugin error traps the call: a failure here
                got, ok = repr(e), False
            if not ok:
                failed.append(f"{row['name']}: got {got!r}"[:400])
        self.assertEqual(failed, [], f"{len(failed)} of {len(rows)} rows differ:\n" + "\n".join(failed))


if __name__ == "__main__":
    unittest.main()
