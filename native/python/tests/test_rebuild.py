"""Rebuilding the route table (a reload that keeps the workers) reuses what did not change."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _support import build, call, route  # noqa: E402

import tandem  # noqa: E402
from apps import handlers  # noqa: E402


class RebuildTest(unittest.TestCase):
    def setUp(self):
        tandem._COMPILED.clear()

    def runner(self, route_id):
        return tandem._COMPILED[route_id][2]

    def test_unchanged_route_keeps_its_runner(self):
        build(route("apps.handlers:hello", "/hello/:name", ["name"], id=3))
        first = self.runner(3)
        dispatch = build(route("apps.handlers:hello", "/hello/:name", ["name"], id=3),
                         route("apps.handlers:noop", "/noop", id=4))
        self.assertIs(self.runner(3), first)
        self.assertEqual(call(dispatch, 3, params=(("name", "ann"),)).json(), {"hello": "ann"})
        self.assertEqual(sorted(tandem._COMPILED), [3, 4])

    def test_changed_route_is_built_again(self):
        build(route("apps.handlers:hello", "/hello/:name", ["name"], id=3))
        first = self.runner(3)
        build(route("apps.handlers:hello", "/hi/:name", ["name"], id=3))
        self.assertIsNot(self.runner(3), first, "another path")
        second = self.runner(3)
        build(route("apps.handlers:hello", "/hi/:name", ["name"], middleware=["apps.middleware:outer"], id=3))
        self.assertIsNot(self.runner(3), second, "other middleware")

    def test_replaced_function_is_built_again(self):
        build(route("apps.handlers:noop", "/noop", id=5))
        first = self.runner(5)
        original = handlers.noop
        try:
            handlers.noop = lambda request: "replaced"
            dispatch = build(route("apps.handlers:noop", "/noop", id=5))
            self.assertIsNot(self.runner(5), first)
            self.assertEqual(call(dispatch, 5).body, b"replaced")
        finally:
            handlers.noop = original

    def test_failed_build_keeps_nothing_new(self):
        build(route("apps.handlers:noop", "/noop", id=6))
        first = self.runner(6)
        result = tandem._new_dispatcher('{"routes": [{"id": 6, "kind": "python", "target": "apps.handlers:noop", '
                                        '"middleware": [], "path": "/noop", "params": []}, '
                                        '{"id": 7, "kind": "python", "target": "apps.nosuch:x", '
                                        '"middleware": [], "path": "/x", "params": []}]}')
        self.assertIsNone(result[0])
        self.assertIs(self.runner(6), first)
        self.assertNotIn(7, tandem._COMPILED)


if __name__ == "__main__":
    unittest.main()
