"""Binding path and query parameters to handler arguments, with conversions."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _support import serve  # noqa: E402

H = "apps.handlers:"


class SignatureShapes(unittest.TestCase):
    def test_request_only(self):
        self.assertEqual(serve(H + "noop").json(), {"ok": True})

    def test_no_parameters(self):
        self.assertEqual(serve(H + "no_args").text(), "no args")

    def test_path_param_by_name(self):
        r = serve(H + "hello", "/hello/bob", [("name", "bob")], route_path="/hello/:name")
        self.assertEqual(r.json(), {"hello": "bob"})

    def test_request_is_optional(self):
        r = serve(H + "hello_no_request", "/h/ann", [("name", "ann")], route_path="/h/:name")
        self.assertEqual(r.json(), {"hello": "ann"})

    def test_request_in_any_position(self):
        r = serve(H + "request_last", "/x/ann", [("name", "ann")], route_path="/x/:name",
                  method="PUT")
        self.assertEqual(r.json(), {"name": "ann", "method": "PUT"})

    def test_request_keyword_only(self):
        r = serve(H + "request_keyword_only", "/x/ann", [("name", "ann")], route_path="/x/:name")
        self.assertEqual(r.json(), {"name": "ann", "path": "/x/ann"})

    def test_request_by_annotation(self):
        r = serve(H + "request_by_annotation", "/x/ann", [("name", "ann")],
                  route_path="/x/:name")
        self.assertEqual(r.json(), {"name": "ann", "path": "/x/ann"})

    def test_positional_only_parameters(self):
        r = serve(H + "positional_only", "/x/ann", [("name", "ann")], route_path="/x/:name",
                  query="page=3")
        self.assertEqual(r.json(), {"name": "ann", "page": 3, "path": "/x/ann"})
        r = serve(H + "positional_only", "/x/ann", [("name", "ann")], route_path="/x/:name")
        self.assertEqual(r.json()["page"], 1)

    def test_var_positional_is_left_empty(self):
        self.assertEqual(serve(H + "var_positional").json(), {"args": []})

    def test_callable_instance_and_bound_method(self):
        r = serve(H + "callable_instance", "/c/x", [("name", "x")], route_path="/c/:name")
        self.assertEqual(r.json(), {"called": "x"})
        r = serve(H + "bound_method", "/c/y", [("name", "y")], route_path="/c/:name")
        self.assertEqual(r.json(), {"method": "y"})

    def test_kwargs_receive_remaining_path_params(self):
        r = serve(H + "kwargs_catch", "/a/7/b/x/y", [("id", "7"), ("other", "x"), ("*", "y")],
                  route_path="/a/:id/b/:other/*")
        self.assertEqual(r.json(), {"id": 7, "rest": {"other": "x", "*": "y"}})

    def test_kwargs_only(self):
        r = serve(H + "kwargs_only", "/a/1", [("id", "1")], route_path="/a/:id")
        self.assertEqual(r.json(), {"rest": {"id": "1"}})

    def test_wildcard_stays_in_request_params(self):
        r = serve(H + "wildcard", "/static/css/site.css", [("*", "css/site.css")],
                  route_path="/static/*")
        self.assertEqual(r.json(), {"wild": "css/site.css"})


class PathConversions(unittest.TestCase):
    ROUTE = "/t/:i/:f/:b/:raw/:s"

    def typed(self, i="7", f="2.5", b="true", raw="abc", s="text"):
        params = [("i", i), ("f", f), ("b", b), ("raw", raw), ("s", s)]
        return serve(H + "typed", "/t", params, route_path=self.ROUTE)

    def test_converts_by_annotation(self):
        r = self.typed()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"i": 7, "f": 2.5, "b": True, "raw": [97, 98, 99], "s": "text",
                                    "types": ["int", "float", "bool", "bytes", "str"]})

    def test_bool_spellings(self):
        for text, value in [("true", True), ("1", True), ("yes", True), ("on", True),
                            ("TRUE", True), ("false", False), ("0", False), ("no", False),
                            ("off", False), ("Off", False)]:
            with self.subTest(text=text):
                self.assertIs(self.typed(b=text).json()["b"], value)

    def test_bytes_get_the_original_bytes_back(self):
        # Go decodes invalid UTF-8 with surrogateescape: bytes restores what was sent.
        raw = b"\xff\xfe-ok".decode("utf-8", "surrogateescape")
        self.assertEqual(self.typed(raw=raw).json()["raw"], list(b"\xff\xfe-ok"))

    def test_conversion_errors_are_400_naming_the_parameter(self):
        cases = [
            ({"i": "abc"}, 'path parameter "i": expected int, got "abc"'),
            ({"f": "x1"}, 'path parameter "f": expected float, got "x1"'),
            ({"b": "maybe"}, 'path parameter "b": expected bool'),
        ]
        for args, message in cases:
            with self.subTest(args=args):
                r = self.typed(**args)
                self.assertEqual(r.status, 400)
                self.assertIn(message, r.json()["error"])
                self.assertEqual(r.json()["status"], 400)
                self.assertEqual(r.json()["request_id"], "req-1")
                self.assertIsNone(r.log)

    def test_long_bad_values_are_shortened(self):
        r = self.typed(i="9" * 50 + "x" * 500)
        self.assertEqual(r.status, 400)
        self.assertLess(len(r.json()["error"]), 200)

    def test_optional_and_union_none(self):
        for target in ("optional_path", "union_none_path"):
            with self.subTest(target=target):
                r = serve(H + target, "/n/5", [("n", "5")], route_path="/n/:n")
                self.assertEqual(r.json(), {"n": 5})
                r = serve(H + target, "/n/x", [("n", "x")], route_path="/n/:n")
                self.assertEqual(r.status, 400)
                self.assertIn("expected int", r.json()["error"])

    def test_annotated(self):
        r = serve(H + "annotated", "/n/5", [("n", "5")], route_path="/n/:n")
        self.assertEqual(r.json(), {"n": 5})

    def test_unannotated_is_str(self):
        r = serve(H + "unannotated", "/u/5", [("x", "5")], route_path="/u/:x")
        self.assertEqual(r.json(), {"x": "5", "type": "str"})

    def test_other_classes_convert_by_calling_them(self):
        key = "12345678-1234-5678-1234-567812345678"
        r = serve(H + "custom_types", "/c", [("color", "red"), ("key", key)],
                  route_path="/c/:color/:key")
        self.assertEqual(r.json(), {"color": "RED", "key": key})
        r = serve(H + "custom_types", "/c", [("color", "blue"), ("key", key)],
                  route_path="/c/:color/:key")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"], 'path parameter "color": expected Color, got "blue"')


class QueryBinding(unittest.TestCase):
    def test_defaults_when_absent(self):
        r = serve(H + "query")
        self.assertEqual(r.json(), {"q": "", "page": 1, "ratio": 0.5, "verbose": False,
                                    "limit": None})

    def test_values_converted(self):
        r = serve(H + "query", query="q=caf%C3%A9+au+lait&page=3&ratio=0.25&verbose=yes&limit=10")
        self.assertEqual(r.json(), {"q": "café au lait", "page": 3, "ratio": 0.25,
                                    "verbose": True, "limit": 10})

    def test_first_value_wins(self):
        self.assertEqual(serve(H + "query", query="page=2&page=9").json()["page"], 2)

    def test_blank_optional_is_none(self):
        self.assertIsNone(serve(H + "query", query="limit=").json()["limit"])

    def test_blank_int_is_an_error(self):
        r = serve(H + "query", query="page=")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"], 'query parameter "page": expected int, got ""')

    def test_conversion_error_names_query_parameter(self):
        r = serve(H + "query", query="page=abc")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"], 'query parameter "page": expected int, got "abc"')
        self.assertEqual(r.header("Content-Type"), "application/json")

    def test_lists(self):
        r = serve(H + "query_lists", query="ids=1&ids=2&tags=a&raw=x&raw=&tags=b")
        self.assertEqual(r.json(), {"ids": [1, 2], "tags": ["a", "b"], "raw": ["x", ""]})
        r = serve(H + "query_lists")
        self.assertEqual(r.json(), {"ids": [], "tags": [], "raw": []})

    def test_list_error_names_the_bad_value(self):
        r = serve(H + "query_lists", query="ids=1&ids=zz&ids=3")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"], 'query parameter "ids": expected int, got "zz"')

    def test_unrelated_query_params_are_ignored(self):
        self.assertEqual(serve(H + "query_default_is_sentinel", query="other=1").json(),
                         {"missing": -1})

    def test_path_and_query_together(self):
        r = serve(H + "path_and_query", "/i/4", [("id", "4")], route_path="/i/:id",
                  query="sort=desc")
        self.assertEqual(r.json(), {"id": 4, "sort": "desc"})


class StringAnnotations(unittest.TestCase):
    """``from __future__ import annotations``: resolved once, with the handler's globals."""

    def test_resolved_with_module_globals(self):
        r = serve("apps.future_handlers:typed", "/f", [("n", "3"), ("flag", "off")],
                  route_path="/f/:n/:flag", query="maybe=1.5&ids=4&ids=5&opt=")
        self.assertEqual(r.json(), {"n": 3, "flag": False, "maybe": 1.5, "ids": [4, 5],
                                    "opt": None})

    def test_request_annotation_is_not_evaluated(self):
        self.assertEqual(serve("apps.future_handlers:unresolvable_but_unused").text(), "ok")


if __name__ == "__main__":
    unittest.main()
