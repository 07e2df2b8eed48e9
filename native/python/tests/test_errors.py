"""HTTPError, uncaught exceptions and a dispatcher that never raises."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _support import Result, build, call, meta, route, serve, tandem  # noqa: E402

H = "apps.handlers:"
INTERNAL = {"error": "internal server error", "status": 500, "request_id": "req-1"}


class HTTPErrors(unittest.TestCase):
    def test_status_and_message(self):
        r = serve(H + "http_error")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.headers, (("Content-Type", "application/json"),))
        self.assertEqual(r.json(), {"error": "no such item", "status": 404, "request_id": "req-1"})
        self.assertIsNone(r.log)

    def test_reason_phrase_without_message(self):
        r = serve(H + "http_error_no_message")
        self.assertEqual(r.json(), {"error": "Forbidden", "status": 403, "request_id": "req-1"})

    def test_headers(self):
        r = serve(H + "http_error_headers")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.header("WWW-Authenticate"), 'Bearer realm="api"')
        self.assertEqual(r.header("Content-Type"), "application/json")

    def test_structured_message(self):
        r = serve(H + "http_error_detail")
        self.assertEqual(r.json()["error"], {"field": "name", "problem": "missing"})

    def test_invalid_status_is_500(self):
        r = serve(H + "http_error_bad_status")
        self.assertEqual(r.status, 500)
        self.assertIn("status 99", r.log)

    def test_invalid_headers_are_500(self):
        r = serve(H + "http_error_bad_headers")
        self.assertEqual(r.status, 500)
        self.assertIn("HTTPError(400) has invalid headers", r.log)

    def test_exception_object(self):
        exc = tandem.HTTPError(404, "gone", headers={"X": "1"})
        self.assertIsInstance(exc, Exception)
        self.assertEqual((exc.status, exc.message, exc.headers), (404, "gone", {"X": "1"}))
        self.assertEqual(str(exc), "404 gone")
        self.assertEqual(str(tandem.HTTPError(418)), "418 I'm a Teapot")


class UncaughtExceptions(unittest.TestCase):
    def assertInternalError(self, r):
        self.assertEqual(r.status, 500)
        self.assertEqual(r.headers, (("Content-Type", "application/json"),))
        self.assertEqual(r.json(), INTERNAL)
        self.assertNotIn(b"Traceback", r.body)
        self.assertTrue(r.log.startswith('request req-1 route "/" (python apps.handlers:'), r.log)
        return r.log

    def test_exception_traceback_goes_to_log_only(self):
        r = serve(H + "raises_value_error")
        log = self.assertInternalError(r)
        self.assertNotIn(b"secret", r.body)
        self.assertIn("unhandled exception", log)
        self.assertIn("Traceback (most recent call last):", log)
        self.assertIn("in raises_value_error", log)
        self.assertIn("ValueError: secret internal detail", log)
        self.assertNotIn("tandem.py", log)  # tandem's own frames are left out

    def test_base_exceptions_are_contained(self):
        for target, name in [("raises_system_exit", "SystemExit: 3"),
                             ("raises_keyboard_interrupt", "KeyboardInterrupt"),
                             ("raises_generator_exit", "GeneratorExit")]:
            with self.subTest(target=target):
                self.assertIn(name, self.assertInternalError(serve(H + target)))

    def test_handler_timeout_is_contained_and_not_an_exception(self):
        self.assertTrue(issubclass(tandem.HandlerTimeout, BaseException))
        self.assertFalse(issubclass(tandem.HandlerTimeout, Exception))
        self.assertIn("HandlerTimeout", tandem.__all__)
        log = self.assertInternalError(serve(H + "catches_exception"))
        self.assertIn("HandlerTimeout", log)
        self.assertIsNone(tandem._drain_interrupt())

    def test_chained_exceptions(self):
        log = self.assertInternalError(serve(H + "raises_chained"))
        self.assertIn("KeyError: 'missing'", log)
        self.assertIn("direct cause", log)
        self.assertIn("RuntimeError: lookup failed", log)

    def test_refused_extension_at_request_time_gets_a_hint(self):
        log = self.assertInternalError(serve(H + "raises_refused_extension"))
        self.assertIn("does not support a per-interpreter GIL (PEP 684)", log)
        self.assertIn("fastext", log)
        self.assertIn("python: {isolation: shared}", log)
        self.assertIn('route "/" (python apps.handlers:raises_refused_extension)', log)

    def test_log_is_utf8_encodable(self):
        # The C side reads the log as strict UTF-8; undecodable input must not break it.
        name = b"\xff".decode("utf-8", "surrogateescape")
        r = serve(H + "raises_with_param", "/x", [("name", name)], route_path="/x/:name",
                  request_id="rid\udcfe")
        self.assertEqual(r.status, 500)
        r.log.encode("utf-8")
        self.assertIn("ValueError: bad name \\udcff", r.log)

    def test_request_id_in_body_and_log(self):
        dispatch = build(route(H + "raises_value_error"))
        r = call(dispatch, request_id="01HZY")
        self.assertEqual(r.json()["request_id"], "01HZY")
        self.assertTrue(r.log.startswith("request 01HZY "))


class NeverRaises(unittest.TestCase):
    def setUp(self):
        self.dispatch = build(route(H + "noop"), route(H + "echo_request", "/e", id=2))

    def test_unknown_route_id(self):
        for route_id in (99, -1, "1", None, 1.0):
            with self.subTest(route_id=route_id):
                r = Result(self.dispatch(route_id, meta(), (), (), b""))
                self.assertEqual(r.status, 500)
                self.assertEqual(r.json(), INTERNAL)
                self.assertIn("no Python route with id", r.log)

    def test_malformed_arguments(self):
        for args in [((), (), (), b""), (meta()[:3], (), (), b""), (None, None, None, None),
                     (meta(), "not pairs", (), b""), (meta(), (), (("a",),), b"")]:
            with self.subTest(args=args):
                raw = self.dispatch(2, *args)
                Result(raw)
                self.assertEqual(raw[0], 500)

    def test_unknown_route_with_bad_meta(self):
        r = Result(self.dispatch(7, None, None, None, None))
        self.assertEqual(r.status, 500)

    def test_failures_do_not_poison_later_requests(self):
        dispatch = build(route(H + "raises_system_exit"), route(H + "noop", id=2))
        for _ in range(3):
            self.assertEqual(call(dispatch, 1).status, 500)
            self.assertEqual(call(dispatch, 2).json(), {"ok": True})

    def test_error_body_is_json_even_for_odd_request_ids(self):
        r = call(build(route(H + "raises_value_error")), request_id="id-\udcff-é")
        self.assertEqual(r.status, 500)
        self.assertEqual(json.loads(r.body)["request_id"], "id-\udcff-é")


if __name__ == "__main__":
    unittest.main()
