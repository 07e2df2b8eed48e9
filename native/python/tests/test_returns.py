"""What handlers return and what the dispatcher sends: conversions, Response, header checks."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _support import serve, tandem  # noqa: E402

H = "apps.handlers:"


class Conversions(unittest.TestCase):
    def test_dict_is_compact_utf8_json(self):
        r = serve(H + "ret_dict")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers, (("Content-Type", "application/json"),))
        self.assertEqual(r.body, '{"message":"héllo ✓","n":[1,2.5,null,true]}'.encode("utf-8"))
        self.assertIsNone(r.log)

    def test_list_is_json(self):
        r = serve(H + "ret_list")
        self.assertEqual((r.status, r.header("Content-Type")), (200, "application/json"))
        self.assertEqual(r.body, b'[1,"two",{"three":3}]')

    def test_str_is_utf8_text(self):
        r = serve(H + "ret_str")
        self.assertEqual(r.headers, (("Content-Type", "text/plain; charset=utf-8"),))
        self.assertEqual(r.body, "héllo".encode("utf-8"))

    def test_bytes_like_are_octet_stream(self):
        for target, body in [("ret_bytes", b"\x00\x01binary"), ("ret_bytearray", b"ba"),
                             ("ret_memoryview", b"mv")]:
            with self.subTest(target=target):
                r = serve(H + target)
                self.assertEqual(r.status, 200)
                self.assertEqual(r.header("Content-Type"), "application/octet-stream")
                self.assertEqual(r.body, body)

    def test_none_is_204(self):
        r = serve(H + "ret_none")
        self.assertEqual((r.status, r.headers, r.body), (204, (), b""))

    def test_tuple_body_status(self):
        r = serve(H + "ret_tuple2")
        self.assertEqual((r.status, r.body), (201, b'{"created":true}'))
        self.assertEqual(r.header("Content-Type"), "application/json")

    def test_tuple_with_dict_headers(self):
        r = serve(H + "ret_tuple3_dict")
        self.assertEqual(r.status, 418)
        self.assertEqual(r.header("Content-Type"), "text/plain; charset=utf-8")
        self.assertEqual(r.header("X-Kind"), "teapot")
        self.assertEqual(r.header_all("Set-Cookie"), ["a=1", "b=2"])

    def test_tuple_headers_override_content_type(self):
        r = serve(H + "ret_tuple3_pairs")
        self.assertEqual(r.header_all("Content-Type"), ["image/png"])
        self.assertEqual(r.header_all("X-A"), ["1", "2"])

    def test_tuple_with_none_body(self):
        r = serve(H + "ret_tuple_none_body")
        self.assertEqual((r.status, r.headers, r.body), (202, (), b""))

    def test_int_header_values_become_text(self):
        self.assertEqual(serve(H + "ret_int_header_value").header("X-Count"), "3")

    def test_status_enum(self):
        self.assertEqual(serve(H + "ret_http_status_enum").status, 201)

    def test_response(self):
        r = serve(H + "ret_response")
        self.assertEqual(r.status, 201)
        self.assertEqual(r.json(), {"id": 1})
        self.assertEqual(r.header("Location"), "/items/1")
        self.assertEqual(r.header("Content-Type"), "application/json")

    def test_response_content_type(self):
        r = serve(H + "ret_response_content_type")
        self.assertEqual(r.headers, (("Content-Type", "text/html; charset=utf-8"),))
        self.assertEqual(r.body, b"<p>hi</p>")

    def test_response_mutated(self):
        r = serve(H + "ret_response_mutated")
        self.assertEqual(r.status, 202)
        self.assertEqual(r.json(), {"changed": True})
        self.assertEqual(r.header_all("Content-Type"), ["application/json"])
        self.assertEqual(r.header_all("X-Multi"), ["1", "2"])

    def test_surrogates_in_text_give_back_the_original_bytes(self):
        name = b"caf\xe9".decode("utf-8", "surrogateescape")
        r = serve(H + "ret_surrogates_str", "/s", [("name", name)], route_path="/s/:name")
        self.assertEqual(r.body, b"name=caf\xe9")

    def test_surrogates_in_json_stay_valid_json(self):
        name = b"caf\xe9".decode("utf-8", "surrogateescape")
        r = serve(H + "ret_surrogates_json", "/s", [("name", name)], route_path="/s/:name")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b'{"name":"caf\\udce9"}')
        r.body.decode("ascii")


class InvalidReturns(unittest.TestCase):
    def assertServerError(self, r, *fragments):
        self.assertEqual(r.status, 500, r)
        self.assertEqual(r.json(), {"error": "internal server error", "status": 500,
                                    "request_id": "req-1"})
        self.assertIsNotNone(r.log)
        self.assertTrue(r.log.startswith('request req-1 route "/" (python apps.handlers:'), r.log)
        for fragment in fragments:
            self.assertIn(fragment, r.log)
        return r.log

    def test_unsupported_types_say_what_and_what_is_accepted(self):
        log = self.assertServerError(serve(H + "ret_set"),
                                     "handler apps.handlers:ret_set returned a set",
                                     "dict, list, str, bytes", "tandem.Response")
        self.assertNotIn("Traceback", log)
        self.assertServerError(serve(H + "ret_int"), "ret_int returned an int")

    def test_not_json_serializable(self):
        self.assertServerError(serve(H + "ret_unserializable"),
                               "ret_unserializable returned a dict that cannot be encoded as JSON",
                               "Object of type object is not JSON serializable")

    def test_nan_is_not_json(self):
        self.assertServerError(serve(H + "ret_nan"), "cannot be encoded as JSON")

    def test_circular_structure(self):
        self.assertServerError(serve(H + "ret_circular"), "ret_circular returned a list")

    def test_bad_status(self):
        self.assertServerError(serve(H + "ret_bad_status"), "status 700",
                               "an int from 200 to 599")
        self.assertServerError(serve(H + "ret_bool_status"), "status True")
        self.assertServerError(serve(H + "ret_response_bad_status"), "status '200'")
        # 1xx are interim: a handler's response is final.
        self.assertServerError(serve(H + "ret_interim_status"), "status 103")

    def test_bad_tuple_length(self):
        self.assertServerError(serve(H + "ret_long_tuple"), "a tuple of 4 items")

    def test_bad_header_name(self):
        self.assertServerError(serve(H + "ret_bad_header_name"),
                               "handler apps.handlers:ret_bad_header_name returned invalid headers",
                               "'Bad Name'")

    def test_header_values_with_cr_lf_nul(self):
        for target in ("ret_bad_header_value", "ret_nul_header_value"):
            with self.subTest(target=target):
                r = self.assertServerError(serve(H + target), "handler apps.handlers:" + target,
                                           "CR, LF or NUL")
                self.assertNotIn("Injected", str(serve(H + target).headers))
                del r

    def test_non_str_header_value(self):
        self.assertServerError(serve(H + "ret_nonstr_header_value"), "must be a str, not float")

    def test_bad_header_set_in_handler_fails_there(self):
        log = self.assertServerError(serve(H + "ret_set_bad_header_in_handler"),
                                     "CR, LF or NUL", "ret_set_bad_header_in_handler")
        self.assertIn("Traceback", log)


class ResponseObject(unittest.TestCase):
    def test_defaults(self):
        r = tandem.Response()
        self.assertEqual((r.status, r.body, r.headers.items()), (200, b"", []))

    def test_body_types(self):
        self.assertEqual(tandem.Response({"a": 1}).body, b'{"a":1}')
        self.assertEqual(tandem.Response({"a": 1}).content_type, "application/json")
        self.assertEqual(tandem.Response("é").body, "é".encode())
        self.assertEqual(tandem.Response(bytearray(b"x")).content_type, "application/octet-stream")
        with self.assertRaises(TypeError):
            tandem.Response(42)

    def test_content_type_argument_and_header(self):
        r = tandem.Response("x", headers={"content-type": "text/csv"})
        self.assertEqual(r.headers.getall("Content-Type"), ["text/csv"])
        r = tandem.Response("x", headers={"Content-Type": "text/csv"}, content_type="text/tab")
        self.assertEqual(r.headers.getall("Content-Type"), ["text/tab"])

    def test_body_setter_normalizes(self):
        r = tandem.Response("x")
        r.body = [1]
        self.assertEqual(r.body, b"[1]")
        r.body = None
        self.assertEqual(r.body, b"")
        with self.assertRaises(TypeError):
            r.body = object()

    def test_headers_setter(self):
        r = tandem.Response()
        r.headers = {"X-A": "1"}
        self.assertIsInstance(r.headers, tandem.MutableHeaders)
        self.assertEqual(r.headers["x-a"], "1")

    def test_invalid_headers_raise_where_set(self):
        with self.assertRaises(ValueError):
            tandem.Response(headers={"X": "a\nb"})
        with self.assertRaises(ValueError):
            tandem.Response().headers.add("Bad:Name", "x")

    def test_repr(self):
        self.assertIn("201", repr(tandem.Response("x", status=201)))


class HeaderMappings(unittest.TestCase):
    def test_read_only_headers(self):
        h = tandem.Headers([("Accept", "a"), ("X-Dup", "1"), ("x-dup", "2")])
        self.assertEqual(h["accept"], "a")
        self.assertEqual(h.get("X-DUP"), "1")
        self.assertEqual(h.getall("X-Dup"), ["1", "2"])
        self.assertEqual(h.get_all("x-dup"), ["1", "2"])
        self.assertEqual(h.getall("missing"), [])
        self.assertIsNone(h.get("missing"))
        self.assertEqual(h.get("missing", "d"), "d")
        self.assertIn("ACCEPT", h)
        self.assertNotIn("Missing", h)
        self.assertNotIn(1, h)
        self.assertEqual(len(h), 3)
        self.assertEqual(list(h), ["Accept", "X-Dup", "x-dup"])
        self.assertEqual(h.items()[1], ("X-Dup", "1"))
        self.assertEqual(h.values(), ["a", "1", "2"])
        with self.assertRaises(KeyError):
            h["missing"]
        with self.assertRaises(TypeError):
            h["Accept"] = "b"
        self.assertFalse(hasattr(h, "set") or hasattr(h, "add"))
        self.assertEqual(h, [("accept", "a"), ("X-Dup", "1"), ("X-DUP", "2")])

    def test_mutable_headers(self):
        h = tandem.MutableHeaders({"Set-Cookie": ["a=1", "b=2"], "X-One": "1"})
        h["set-cookie"] = "c=3"
        self.assertEqual(h.getall("Set-Cookie"), ["c=3"])
        h.add("Set-Cookie", "d=4")
        self.assertEqual(h.getall("set-cookie"), ["c=3", "d=4"])
        h.set("X-One", "one")
        self.assertEqual(h.items(), [("set-cookie", "c=3"), ("X-One", "one"),
                                     ("Set-Cookie", "d=4")])
        del h["SET-COOKIE"]
        self.assertNotIn("Set-Cookie", h)
        with self.assertRaises(KeyError):
            del h["Set-Cookie"]
        self.assertEqual(h.pop("x-one"), "one")
        self.assertEqual(h.pop("x-one", None), None)
        self.assertEqual(h.setdefault("X-D", "1"), "1")
        self.assertEqual(h.setdefault("x-d", "2"), "1")
        h.update({"X-D": "3", "X-E": "4"})
        self.assertEqual(h.items(), [("X-D", "3"), ("X-E", "4")])
        copy = h.copy()
        h.clear()
        self.assertEqual(len(h), 0)
        self.assertEqual(len(copy), 2)

    def test_mutable_headers_validate(self):
        h = tandem.MutableHeaders()
        for name, value in [("", "x"), ("Bad Name", "x"), ("X:Y", "x"), ("X", "a\rb"),
                            ("X", "a\x00b"), ("X", "\udcff")]:
            with self.subTest(name=name, value=value), self.assertRaises(ValueError):
                h.add(name, value)
        with self.assertRaises(TypeError):
            h.add("X", b"bytes")
        h.add("X-Int", 5)
        self.assertEqual(h["X-Int"], "5")
        self.assertEqual(len(h), 1)


if __name__ == "__main__":
    unittest.main()
