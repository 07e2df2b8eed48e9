"""tandem in the interpreters it really runs in: isolated own-GIL sub-interpreters (3.12+) and a
shared main interpreter used by several threads at once."""

import os
import sys
import textwrap
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _support import HERE, PYTHON_DIR, build, call, route  # noqa: E402


def run_isolated(code):
    """Run ``code`` in a new isolated (own GIL) sub-interpreter; raise if it raises."""
    if sys.version_info >= (3, 14):
        from concurrent import interpreters

        interp = interpreters.create()  # isolated, with its own GIL
        try:
            interp.exec(code)
        finally:
            interp.close()
        return
    if sys.version_info >= (3, 13):
        import _interpreters

        interp = _interpreters.create(_interpreters.new_config("isolated"))
        try:
            failure = _interpreters.exec(interp, code)
        finally:
            _interpreters.destroy(interp)
        if failure is not None:
            raise AssertionError("sub-interpreter failed: %s" % (failure,))
        return
    import _xxsubinterpreters

    interp = _xxsubinterpreters.create(isolated=True)
    try:
        _xxsubinterpreters.run_string(interp, code)
    finally:
        _xxsubinterpreters.destroy(interp)


PRELUDE = """
import json, sys
sys.path.insert(0, %r)
import tandem
error = tandem._setup_interpreter(json.dumps({
    "path": [%r], "site_packages": [], "executable": None, "init": "apps.setup_hooks:record",
    "worker": {"index": 1, "cpu": None, "count": 2}, "isolation": "own_gil"}))
assert error is None, error

def call(dispatch, route_id, path="/", params=(), query="", body=b""):
    meta = ("GET", path, query, "rid", "127.0.0.1:1", "http", "HTTP/1.1", "localhost", "80")
    return dispatch(route_id, meta, (("Host", "localhost"),), params, body)
""" % (PYTHON_DIR, HERE)


@unittest.skipIf(sys.version_info < (3, 12), "own-GIL sub-interpreters need CPython 3.12+")
class IsolatedSubInterpreter(unittest.TestCase):
    def test_module_imports_and_serves(self):
        run_isolated(PRELUDE + textwrap.dedent("""
            from apps import setup_hooks
            assert setup_hooks.seen[0].index == 1, setup_hooks.seen
            dispatch, error = tandem._new_dispatcher(json.dumps({"routes": [
                {"id": 1, "kind": "python", "target": "apps.handlers:hello",
                 "path": "/hello/:name", "params": ["name"],
                 "middleware": ["apps.middleware:sees_response"]},
                {"id": 2, "kind": "python", "target": "apps.handlers:query", "path": "/q",
                 "params": [], "middleware": []},
                {"id": 3, "kind": "wsgi", "target": "apps.wsgi_apps:checked_hello",
                 "path": "/w/*", "params": ["*"], "middleware": []},
                {"id": 4, "kind": "python", "target": "apps.future_handlers:typed",
                 "path": "/f/:n/:flag", "params": ["n", "flag"], "middleware": []},
                {"id": 5, "kind": "python", "target": "apps.handlers:raises_system_exit",
                 "path": "/boom", "params": [], "middleware": []},
            ]}))
            assert error is None, error
            status, headers, body, log = call(dispatch, 1, "/hello/x", (("name", "x"),))
            assert (status, body) == (200, b'{"hello":"x"}'), (status, body, log)
            assert ("X-Seen-Status", "200") in headers, headers
            status, _, body, _ = call(dispatch, 2, "/q", (), "page=5&verbose=on")
            assert json.loads(body)["page"] == 5 and json.loads(body)["verbose"] is True, body
            status, _, body, log = call(dispatch, 3, "/w/a", (("*", "a"),))
            assert (status, body) == (200, b"hello wsgi"), (status, body, log)
            status, _, body, _ = call(dispatch, 4, "/f/2/yes", (("n", "2"), ("flag", "yes")))
            assert json.loads(body)["n"] == 2, body
            status, _, body, log = call(dispatch, 5, "/boom")
            assert status == 500 and "SystemExit" in log, (status, log)
        """))

    def test_extension_refusing_subinterpreters(self):
        try:
            import _testsinglephase  # noqa: F401
        except ImportError:
            self.skipTest("this CPython has no _testsinglephase test extension")
        run_isolated(PRELUDE + textwrap.dedent("""
            dispatch, error = tandem._new_dispatcher(json.dumps({"routes": [
                {"id": 1, "kind": "python", "target": "apps.uses_singlephase:handler",
                 "path": "/native", "params": [], "middleware": []}]}))
            assert dispatch is None
            refusal = "module _testsinglephase does not support loading in subinterpreters"
            assert refusal in error, error
            assert "per-interpreter GIL (PEP 684)" in error, error
            assert 'route "/native" (handler apps.uses_singlephase:handler)' in error, error
            assert "python: {isolation: shared}" in error, error
        """))

    @unittest.skipIf(sys.version_info < (3, 14), "concurrent.interpreters is 3.14+")
    def test_parallel_interpreters(self):
        from concurrent import interpreters

        code = PRELUDE + textwrap.dedent("""
            dispatch, error = tandem._new_dispatcher(json.dumps({"routes": [
                {"id": 1, "kind": "python", "target": "apps.handlers:path_and_query",
                 "path": "/i/:id", "params": ["id"], "middleware": ["apps.middleware:outer"]}]}))
            assert error is None, error
            for i in range(2000):
                status, _, body, _ = call(dispatch, 1, "/i/%d" % i, (("id", str(i)),), "sort=d")
                assert body == b'{"id":%d,"sort":"d"}' % i, body
        """)
        failures = []

        def work():
            interp = interpreters.create()
            try:
                interp.exec(code)
            except Exception as exc:  # reported below
                failures.append(exc)
            finally:
                interp.close()

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(failures, [])


class SharedInterpreterThreads(unittest.TestCase):
    """Shared mode: several workers call one dispatcher from their own threads."""

    def test_concurrent_dispatch(self):
        dispatch = build(
            route("apps.handlers:path_and_query", "/i/:id", ["id"],
                  middleware=["apps.middleware:outer", "apps.middleware:inner"], id=1),
            route("apps.handlers:ret_dict", "/d", id=2),
            route("apps.wsgi_apps:hello", "/w", kind="wsgi", id=3),
        )
        failures = []
        saved = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # switch threads as often as possible

        def work(n):
            try:
                for i in range(300):
                    r = call(dispatch, 1, "/i/%d" % i, [("id", str(i))], query="sort=%d" % n)
                    assert r.json() == {"id": i, "sort": str(n)}, r
                    assert r.header_all("X-Order") == ["inner", "outer"], r
                    assert call(dispatch, 2, "/d").json()["n"] == [1, 2.5, None, True]
                    assert call(dispatch, 3, "/w").body == b"hello wsgi"
            except BaseException as exc:
                failures.append(exc)

        try:
            threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            sys.setswitchinterval(saved)
        self.assertEqual(failures, [])


if __name__ == "__main__":
    unittest.main()
