"""Python middleware: order, short-circuits, what call_next returns, errors."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _support import serve  # noqa: E402

M = "apps.middleware:"
H = "apps.handlers:"


class Order(unittest.TestCase):
    def test_first_listed_is_outermost(self):
        r = serve(M + "report_trace", middleware=[M + "outer", M + "inner"])
        self.assertEqual(r.json()["trace"], ["outer-in", "inner-in"])
        # inner adds its header first, on the way out
        self.assertEqual(r.header_all("X-Order"), ["inner", "outer"])

    def test_same_request_object_and_state(self):
        r = serve(M + "report_trace", middleware=[M + "authenticate"],
                  headers=[("Authorization", "Bearer good")])
        self.assertEqual(r.json(), {"trace": [], "user": "alice"})


class ShortCircuit(unittest.TestCase):
    def test_middleware_answers_without_the_handler(self):
        r = serve(H + "raises_value_error", middleware=[M + "authenticate"])
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json(), {"error": "unauthorized"})
        self.assertIsNone(r.log)

    def test_outer_middleware_sees_inner_short_circuit_as_response(self):
        r = serve(H + "noop", middleware=[M + "sees_response", M + "authenticate"])
        self.assertEqual(r.status, 401)
        self.assertEqual(r.header("X-Seen-Status"), "401")


class CallNext(unittest.TestCase):
    def test_handler_results_arrive_as_responses(self):
        for target, status in [("noop", 200), ("ret_str", 200), ("ret_none", 204),
                               ("ret_tuple2", 201), ("ret_response", 201), ("ret_bytes", 200)]:
            with self.subTest(target=target):
                r = serve(H + target, middleware=[M + "sees_response"])
                self.assertEqual(r.status, status)
                self.assertEqual(r.header("X-Seen-Status"), str(status))
                self.assertEqual(r.header("X-Seen-Type"), "Response")
                self.assertEqual(r.body, serve(H + target).body)

    def test_http_error_arrives_as_a_4xx_response(self):
        r = serve(H + "http_error", middleware=[M + "sees_response"])
        self.assertEqual(r.status, 404)
        self.assertEqual(r.header("X-Seen-Status"), "404")
        self.assertEqual(r.json(), {"error": "no such item", "status": 404, "request_id": "req-1"})

    def test_conversion_errors_arrive_as_400(self):
        r = serve(H + "query", middleware=[M + "sees_response"], query="page=x")
        self.assertEqual((r.status, r.header("X-Seen-Status")), (400, "400"))

    def test_middleware_may_return_anything_a_handler_may(self):
        r = serve(H + "ret_str", middleware=[M + "returns_dict"])
        self.assertEqual(r.json(), {"wrapped_status": 200, "wrapped_body": "héllo"})

    def test_middleware_can_catch_handler_exceptions(self):
        r = serve(H + "raises_value_error", middleware=[M + "catches_errors"])
        self.assertEqual(r.status, 502)
        self.assertEqual(r.json(), {"caught": "secret internal detail"})


class Errors(unittest.TestCase):
    def test_exception_in_middleware_is_500_with_traceback(self):
        r = serve(H + "noop", middleware=[M + "raises"])
        self.assertEqual(r.status, 500)
        self.assertEqual(r.json()["error"], "internal server error")
        self.assertIn("RuntimeError: middleware failed", r.log)
        self.assertIn("in raises", r.log)

    def test_handler_exception_through_middleware(self):
        r = serve(H + "raises_value_error", middleware=[M + "outer", M + "inner"])
        self.assertEqual(r.status, 500)
        self.assertIn("ValueError: secret internal detail", r.log)

    def test_http_error_in_middleware(self):
        r = serve(H + "noop", middleware=[M + "raises_http_error"])
        self.assertEqual(r.status, 429)
        self.assertEqual(r.json()["error"], "slow down")

    def test_http_error_in_inner_middleware_reaches_outer_as_response(self):
        r = serve(H + "noop", middleware=[M + "sees_response", M + "raises_http_error"])
        self.assertEqual((r.status, r.header("X-Seen-Status")), (429, "429"))

    def test_invalid_return_from_middleware_names_it(self):
        r = serve(H + "noop", middleware=[M + "returns_garbage"])
        self.assertEqual(r.status, 500)
        self.assertIn("middleware apps.middleware:returns_garbage returned an object", r.log)

    def test_invalid_return_from_handler_names_the_handler(self):
        r = serve(H + "ret_set", middleware=[M + "sees_response"])
        self.assertEqual(r.status, 500)
        self.assertIn("handler apps.handlers:ret_set returned a set", r.log)


if __name__ == "__main__":
    unittest.main()
