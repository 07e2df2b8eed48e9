"""The Request object: attributes, lazy parsing, body decoding."""

import os
import sys
import unittest
from urllib.parse import parse_qsl

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _support import meta, serve, tandem  # noqa: E402

H = "apps.handlers:"


def make_request(path="/", query="", headers=(), params=(), body=b"", **meta_args):
    class FakeRoute:
        path = "/route"
        label = 'route "/route" (python x:y)'

    return tandem.Request(FakeRoute, meta(path, query=query, **meta_args), tuple(headers),
                          tuple(params), body)


class Attributes(unittest.TestCase):
    def test_everything_a_handler_reads(self):
        r = serve(H + "echo_request", "/items/42/caf\u00e9", [("*", "42/caf\u00e9")],
                  route_path="/items/*", method="POST", query="a=1&a=2&b=&c=%20x",
                  headers=[("Host", "api.example:8443"), ("Content-Type", "application/json")],
                  body=b"{}", scheme="https", remote="[2001:db8::1]:4000",
                  request_id="rid-7", protocol="HTTP/2.0", server_port="8443")
        self.assertEqual(r.json(), {
            "method": "POST",
            "path": "/items/42/café",
            "query_string": "a=1&a=2&b=&c=%20x",
            "request_id": "rid-7",
            "remote_addr": "[2001:db8::1]:4000",
            "scheme": "https",
            "protocol": "HTTP/2.0",
            "server_name": "example.test",
            "server_port": "8443",
            "host": "api.example:8443",
            "url": "https://api.example:8443/items/42/caf%C3%A9?a=1&a=2&b=&c=%20x",
            "route": "/items/*",
            "content_type": "application/json",
            "content_length": 2,
            "params": {"*": "42/café"},
            "query": {"a": "1", "b": "", "c": " x"},
            "query_all": {"a": ["1", "2"], "b": [""], "c": [" x"]},
        })

    def test_host_without_host_header(self):
        self.assertEqual(make_request(server_port="80").host, "example.test")
        self.assertEqual(make_request(server_port="9000").host, "example.test:9000")
        self.assertEqual(make_request(scheme="https", server_port="443").host, "example.test")

    def test_content_type_absent(self):
        request = make_request()
        self.assertIsNone(request.content_type)
        self.assertEqual(request.content_length, 0)

    def test_url_keeps_undecodable_bytes(self):
        path = b"/a b/\xff".decode("utf-8", "surrogateescape")
        self.assertEqual(make_request(path).url, "http://example.test:8080/a%20b/%FF")

    def test_surrogateescape_input_is_readable(self):
        value = b"\xff\xfeok".decode("utf-8", "surrogateescape")
        request = make_request("/" + value, headers=[("X-Raw", value)], params=[("p", value)])
        self.assertEqual(request.headers["x-raw"], value)
        self.assertEqual(request.params["p"].encode("utf-8", "surrogateescape"), b"\xff\xfeok")
        self.assertTrue(request.path.endswith(value))

    def test_slots(self):
        request = make_request()
        with self.assertRaises(AttributeError):
            request.unknown_attribute = 1
        request.body = b"replaced"
        self.assertEqual(request.body, b"replaced")

    def test_state_and_cookies(self):
        request = make_request(headers=[("Cookie", 'a=1; b="two"; bad; =x'),
                                        ("Cookie", "a=9; c=3")])
        self.assertEqual(request.cookies, {"a": "1", "b": "two", "c": "3"})
        self.assertIs(request.state, request.state)
        request.state["user"] = "u"
        self.assertEqual(request.state, {"user": "u"})

    def test_repr(self):
        self.assertIn("GET /", repr(make_request()))


class Laziness(unittest.TestCase):
    def test_nothing_is_built_until_used(self):
        r = serve(H + "lazy_state")
        self.assertEqual(r.json(), {"before": [], "after": ["_headers", "_query", "_query_all"]})

    def test_built_once(self):
        request = make_request(query="a=1", headers=[("X", "1")], params=[("p", "v")],
                               body=b'{"k": [1]}')
        self.assertIs(request.headers, request.headers)
        self.assertIs(request.query, request.query)
        self.assertIs(request.query_all, request.query_all)
        self.assertIs(request.params, request.params)
        self.assertIs(request.json(), request.json())

    def test_headers_are_the_servers_pairs(self):
        pairs = (("Host", "h"), ("Accept", "a"), ("Accept", "b"))
        request = make_request(headers=pairs)
        self.assertIs(request.headers._items, pairs)
        self.assertEqual(request.headers.getall("accept"), ["a", "b"])
        self.assertIsInstance(request.headers, tandem.Headers)
        self.assertNotIsInstance(request.headers, tandem.MutableHeaders)


class QueryParsing(unittest.TestCase):
    CASES = ["", "a", "a=", "a=&b", "a=1&&b=2", "&a=1&", "a=1;b=2", "=x", "a=b=c",
             "a+b=c+d", "%61=%62", "x=%zz", "x=%C3%A9", "x=%ff", "x=%E2%9C%93&x=%2B",
             "k=%", "k=%2", "%=%", "+=+", "a=1&a=2&A=3", "caf\u00e9=\u00e9"]

    def test_same_as_parse_qsl(self):
        for query in self.CASES:
            with self.subTest(query=query):
                expected = parse_qsl(query, keep_blank_values=True)
                self.assertEqual(tandem._parse_query(query), expected)


class BodyDecoding(unittest.TestCase):
    def test_text_default_utf8(self):
        self.assertEqual(make_request(body="héllo".encode()).text(), "héllo")

    def test_text_charset_from_content_type(self):
        request = make_request(headers=[("Content-Type", 'text/plain; charset="ISO-8859-1"')],
                               body="héllo".encode("latin-1"))
        self.assertEqual(request.text(), "héllo")

    def test_text_decode_error_is_400_naming_the_charset(self):
        request = make_request(body=b"\xff\xfe")
        with self.assertRaises(tandem.HTTPError) as caught:
            request.text()
        self.assertEqual(caught.exception.status, 400)
        self.assertIn("not valid utf-8", caught.exception.message)
        request = make_request(headers=[("Content-Type", "text/plain; charset=ascii")],
                               body="é".encode())
        with self.assertRaises(tandem.HTTPError) as caught:
            request.text()
        self.assertIn("not valid ascii", caught.exception.message)

    def test_text_unknown_charset(self):
        request = make_request(headers=[("Content-Type", "text/plain; charset=klingon")],
                               body=b"x")
        with self.assertRaises(tandem.HTTPError) as caught:
            request.text()
        self.assertEqual(caught.exception.status, 400)
        self.assertIn("klingon", caught.exception.message)

    def test_text_error_through_dispatch(self):
        r = serve(H + "reads_text", body=b"\xc3(")
        self.assertEqual(r.status, 400)
        self.assertIn("request body is not valid utf-8", r.json()["error"])

    def test_json_parsed_once(self):
        r = serve(H + "reads_json", body=b'{"a": [1, "\xc3\xa9"]}',
                  headers=[("Content-Type", "text/plain")])  # the content type is not checked
        self.assertEqual(r.json(), {"got": {"a": [1, "é"]}, "same": True})

    def test_invalid_json_is_400(self):
        for body in (b"", b"{", b"{'a': 1}", b"\xff"):
            with self.subTest(body=body):
                r = serve(H + "reads_json", body=body)
                self.assertEqual(r.status, 400)
                self.assertTrue(r.json()["error"].startswith("request body is not valid JSON: "),
                                r.json())
                self.assertIsNone(r.log)

    def test_json_null_is_cached_too(self):
        request = make_request(body=b"null")
        self.assertIsNone(request.json())
        request.body = b"not json"
        self.assertIsNone(request.json())


if __name__ == "__main__":
    unittest.main()
