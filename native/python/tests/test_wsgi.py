"""The WSGI (PEP 3333) adapter, checked by wsgiref.validate and a small Flask-like app."""

import gc
import os
import sys
import unittest
import warnings
from wsgiref.validate import WSGIWarning

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _support import serve  # noqa: E402

from apps import wsgi_apps  # noqa: E402

W = "apps.wsgi_apps:"


def wsgi(target, path="/", route_path=None, **kwargs):
    return serve(W + target, path, kind="wsgi", route_path=route_path or path, **kwargs)


class WSGITestCase(unittest.TestCase):
    """Turns validator warnings into errors and fails on anything reported as unraisable
    (the validator asserts in ``__del__`` that the server closed the app's iterable)."""

    def setUp(self):
        self.warnings = warnings.catch_warnings()
        self.warnings.__enter__()
        warnings.simplefilter("error", WSGIWarning)
        self.unraisable = []
        self.saved_hook = sys.unraisablehook
        sys.unraisablehook = self.unraisable.append
        wsgi_apps.events.clear()

    def tearDown(self):
        gc.collect()
        sys.unraisablehook = self.saved_hook
        self.warnings.__exit__(None, None, None)
        self.assertEqual([str(u.exc_value) for u in self.unraisable], [])


class Validated(WSGITestCase):
    def test_hello(self):
        r = wsgi("checked_hello")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers, (("Content-Type", "text/plain; charset=utf-8"),))
        self.assertEqual(r.body, b"hello wsgi")
        self.assertIsNone(r.log)

    def test_environ(self):
        r = wsgi("checked_environ_echo", "/echo", method="POST", query="a=1&b=%20",
                 headers=[("Content-Type", "application/json"), ("Content-Length", "2"),
                          ("Accept", "text/html"), ("Accept", "application/json"),
                          ("Cookie", "a=1"), ("Cookie", "b=2"), ("X_Forwarded_For", "spoof"),
                          ("X-Forwarded-For", "198.51.100.1")],
                 body=b"{}", remote="[2001:db8::1]:4000", scheme="https",
                 protocol="HTTP/2.0", request_id="rid-9")
        self.assertEqual(r.status, 200, r)
        env = r.json()
        expected = {
            "REQUEST_METHOD": "POST", "SCRIPT_NAME": "", "PATH_INFO": "/echo",
            "QUERY_STRING": "a=1&b=%20", "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": "2", "SERVER_NAME": "example.test", "SERVER_PORT": "8080",
            "SERVER_PROTOCOL": "HTTP/2.0", "REMOTE_ADDR": "2001:db8::1", "REMOTE_PORT": "4000",
            "HTTP_HOST": "example.test:8080", "HTTP_ACCEPT": "text/html,application/json",
            "HTTP_COOKIE": "a=1; b=2", "HTTP_X_FORWARDED_FOR": "198.51.100.1",
            "wsgi.url_scheme": "https", "wsgi.version": [1, 0], "flags": [False, True, False],
            "tandem.request_id": "rid-9", "has_request": True,
        }
        for key, value in expected.items():
            self.assertEqual(env.get(key), value, key)
        self.assertNotIn("HTTP_CONTENT_TYPE", env)
        self.assertNotIn("HTTP_CONTENT_LENGTH", env)

    def test_remote_address_forms(self):
        for remote, addr, port in [("192.0.2.1:80", "192.0.2.1", "80"), ("[::1]:9", "::1", "9"),
                                   ("[::1]", "::1", ""), ("@unix", "@unix", "")]:
            with self.subTest(remote=remote):
                env = wsgi("checked_environ_echo", remote=remote).json()
                self.assertEqual((env["REMOTE_ADDR"], env["REMOTE_PORT"]), (addr, port))

    def test_no_body_no_content_length(self):
        env = wsgi("checked_environ_echo").json()
        self.assertNotIn("CONTENT_LENGTH", env)
        self.assertNotIn("CONTENT_TYPE", env)

    def test_native_strings_are_latin1_bytes(self):
        undecodable = b"/raw/\xff".decode("utf-8", "surrogateescape")
        for path, expected in [("/caf\u00e9", "/caf\u00c3\u00a9"), (undecodable, "/raw/\u00ff")]:
            with self.subTest(path=path):
                env = wsgi("checked_environ_echo", path,
                           headers=[("X-Name", "\u00e9")]).json()
                self.assertEqual(env["PATH_INFO"], expected)
                self.assertEqual(env["HTTP_X_NAME"], "\u00c3\u00a9")

    def test_wildcard_mount(self):
        cases = [
            ("/api/*", "/api/users/x", "users/x", "/api", "/users/x"),
            ("/api/*", "/api/", "", "/api", "/"),
            ("/*", "/x/y", "x/y", "", "/x/y"),
            ("/v/:version/*", "/v/2/items", "items", "/v/2", "/items"),
            ("/api/*", "/api/a/b", "a%2Fb", "/api", "/a/b"),  # raw wildcard, decoded path
            ("/api/*", "/elsewhere", "zzz", "", "/elsewhere"),  # no match: all in PATH_INFO
        ]
        for route_path, path, wild, script_name, path_info in cases:
            with self.subTest(path=path):
                names = [p[1:] for p in route_path.split("/") if p.startswith(":")]
                params = [(n, "2") for n in names] + [("*", wild)]
                env = serve(W + "checked_environ_echo", path, params, kind="wsgi",
                            route_path=route_path).json()
                self.assertEqual((env["SCRIPT_NAME"], env["PATH_INFO"]), (script_name, path_info))

    def test_wildcard_value_percent_encoded(self):
        env = serve(W + "checked_environ_echo", "/api/a b", [("*", "a%20b")], kind="wsgi",
                    route_path="/api/*").json()
        self.assertEqual((env["SCRIPT_NAME"], env["PATH_INFO"]), ("/api", "/a b"))

    def test_reads_input(self):
        r = wsgi("checked_reads_input", method="POST", body=b"line one\nline two",
                 headers=[("Content-Length", "17")])
        self.assertEqual(r.body, b"owt enil\neno enil")

    def test_write_callable_and_iterable(self):
        self.assertEqual(wsgi("checked_uses_write").body, b"written then returned")

    def test_generator_is_closed(self):
        r = wsgi("checked_generator")
        self.assertEqual(r.body, b"abc")
        self.assertEqual(wsgi_apps.events, ["generator finished"])

    def test_close_is_called(self):
        self.assertEqual(wsgi("checked_closing").body, b"body")
        self.assertEqual(wsgi_apps.events, ["closed"])

    def test_exc_info_before_body_replaces_status_and_headers(self):
        r = wsgi("checked_exc_info_before_body")
        self.assertEqual(r.status, 503)
        self.assertEqual(r.headers, (("Content-Type", "text/plain"),))
        self.assertEqual(r.body, b"replaced")

    def test_errors_stream_goes_to_log(self):
        r = wsgi("checked_errors_stream")
        self.assertEqual((r.status, r.body), (200, b"ok"))
        self.assertEqual(r.log, 'request req-1 route "/" (wsgi apps.wsgi_apps:'
                                'checked_errors_stream): wsgi.errors: first warning\n'
                                "second warning")

    def test_non_ascii_header_values(self):
        r = wsgi("checked_non_ascii_header")
        self.assertEqual(r.header("X-Name"), "café")   # UTF-8 bytes sent as latin-1
        self.assertEqual(r.header("X-Latin"), "été")   # not UTF-8: the latin-1 text itself

    def test_empty_body(self):
        r = wsgi("checked_empty_body")
        self.assertEqual((r.status, r.headers, r.body), (204, (), b""))

    def test_python_middleware_wraps_wsgi(self):
        r = serve(W + "checked_hello", kind="wsgi", middleware=["apps.middleware:sees_response"])
        self.assertEqual((r.status, r.body, r.header("X-Seen-Status")), (200, b"hello wsgi", "200"))


class Failures(WSGITestCase):
    def assertFails(self, target, *fragments, **kwargs):
        r = wsgi(target, **kwargs)
        self.assertEqual(r.status, 500, r)
        self.assertEqual(r.json()["error"], "internal server error")
        self.assertNotIn(b"Traceback", r.body)
        for fragment in fragments:
            self.assertIn(fragment, r.log)
        return r

    def test_app_exception(self):
        r = self.assertFails("fails_before_start", "LookupError: app exploded", "Traceback")
        self.assertTrue(r.log.startswith('request req-1 route "/" (wsgi apps.wsgi_apps:'))

    def test_exception_while_iterating_still_closes(self):
        self.assertFails("fails_in_iteration", "failed while streaming")
        self.assertEqual(wsgi_apps.events, ["closed"])

    def test_exc_info_after_body_reraises(self):
        self.assertFails("exc_info_after_body", "ValueError: too late to replace")

    def test_protocol_violations(self):
        cases = [
            ("start_twice", "start_response() called a second time"),
            ("never_starts", "before start_response()"),
            ("returns_nothing_never_starts", "without calling start_response()"),
            ("bad_status", "is not of the form"),
            ("status_not_str", "WSGI status must be a str"),
            ("headers_not_list", "must be a list"),
            ("header_not_latin1", "is not latin-1"),
            ("header_with_newline", "CR, LF or NUL"),
            ("yields_str", "it must yield bytes"),
            ("write_str", "write() takes bytes"),
        ]
        for target, fragment in cases:
            with self.subTest(target=target):
                self.assertFails(target, fragment)

    def test_errors_text_kept_when_failing(self):
        r = self.assertFails("writes_errors_then_fails", "wsgi.errors: about to fail",
                             "RuntimeError: failed after logging")
        self.assertEqual(r.log.count("request req-1"), 2)

    def test_hop_by_hop_headers_dropped(self):
        r = wsgi("hop_by_hop")
        self.assertEqual(r.headers, (("X-Kept", "yes"),))


class FlaskLike(WSGITestCase):
    ROUTE = "/shop/*"

    def get(self, tail, **kwargs):
        return serve("apps.miniflask:checked_app", "/shop/" + tail, [("*", tail)], kind="wsgi",
                     route_path=self.ROUTE, **kwargs)

    def test_index_builds_urls_from_script_name(self):
        r = self.get("")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Type"), "text/html; charset=utf-8")
        self.assertEqual(r.body, b"<h1>index</h1> users at /shop/users/")

    def test_route_with_variable(self):
        r = self.get("users/z\u00fc", query="verbose=1", headers=[("User-Agent", "test/1")])
        self.assertEqual(r.json(), {"user": "zü", "self": "/shop/users/zü", "agent": "test/1",
                                    "verbose": "1"})
        self.assertEqual(r.header("Content-Length"), str(len(r.body)))

    def test_post_json(self):
        r = self.get("echo", method="POST", body=b'{"n": [1, 2]}',
                     headers=[("Content-Type", "application/json"), ("Content-Length", "13")])
        self.assertEqual(r.json(), {"echo": {"n": [1, 2]}})

    def test_not_found(self):
        r = self.get("nowhere")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.json(), {"error": "not found", "path": "/nowhere"})


if __name__ == "__main__":
    unittest.main()
