"""What the fuzzers and the hostile-HTTP tests found: bad input is a 400, never a 500."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _support import serve  # noqa: E402

H = "apps.handlers:"


class HardeningTest(unittest.TestCase):
    def error(self, result):
        self.assertEqual(result.status, 400, result.body)
        return result.json()["error"]

    def test_text_with_a_charset_that_is_not_one(self):
        for charset in ("\udcff", "undefined", "a\x00b"):
            r = serve(H + "reads_text", headers=(("Content-Type", "text/plain; charset=" + charset),), body=b"0")
            self.assertIn("unknown charset", self.error(r), charset)

    def test_json_nested_too_deeply(self):
        r = serve(H + "reads_json", body=b"[" * 50000)
        self.assertEqual(self.error(r), "request body is not valid JSON: nested too deeply")

    def test_json_constants_are_not_json(self):
        for body in (b'{"a": NaN}', b"Infinity", b"[-Infinity]"):
            r = serve(H + "reads_json", body=body)
            self.assertIn("is not a JSON value", self.error(r), body)

    def test_int_is_ascii_decimal(self):
        for text in ("12", "%2B12", "-3"):  # a "+" in a query string is a space
            r = serve(H + "query", query="page=" + text)
            self.assertEqual(r.status, 200, text)
        for text in ("1_000", " 12 ", "\u0661\u0662", "0x10", ""):
            r = serve(H + "query", query="page=" + text)
            self.assertIn('"page"', self.error(r), repr(text))

    def test_float_is_finite_ascii_decimal(self):
        for text in ("1", "1.5", ".5", "-2e3"):
            r = serve(H + "query", query="ratio=" + text)
            self.assertEqual(r.status, 200, text)
        for text in ("inf", "nan", "1e999", "-Infinity", "1_0.0", "\u0661.5"):
            r = serve(H + "query", query="ratio=" + text)
            self.assertIn('"ratio"', self.error(r), repr(text))

    def test_header_copy_with_bytes_that_are_not_utf8(self):
        r = serve(H + "copies_headers", headers=(("X-A", "caf\udce9"),))
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.header("X-A"), "caf\ufffd")


if __name__ == "__main__":
    unittest.main()
