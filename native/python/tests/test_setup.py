"""_setup_interpreter and the errors _new_dispatcher reports before serving."""

import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _support import build, build_error, call, route, tandem  # noqa: E402

H = "apps.handlers:"


def config(**overrides):
    base = {"path": [], "site_packages": [], "executable": None, "init": None,
            "worker": {"index": 2, "cpu": 5, "count": 4}, "isolation": "own_gil"}
    base.update(overrides)
    return json.dumps(base)


class SetupInterpreter(unittest.TestCase):
    def setUp(self):
        self.saved_path = list(sys.path)
        self.saved_executable = sys.executable
        tandem._inits_done.clear()  # each test is a fresh interpreter as far as init goes

    def tearDown(self):
        sys.path[:] = self.saved_path
        sys.executable = self.saved_executable

    def test_prepends_paths_in_order(self):
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            sys.path.append(b)
            self.assertIsNone(tandem._setup_interpreter(config(path=[a, b])))
            self.assertEqual(sys.path[:2], [a, b])
            self.assertEqual(sys.path.count(b), 1)

    def test_site_packages_process_pth_files(self):
        with tempfile.TemporaryDirectory() as site_dir, tempfile.TemporaryDirectory() as extra:
            with open(os.path.join(site_dir, "extra.pth"), "w") as f:
                f.write(extra + "\n")
            self.assertIsNone(tandem._setup_interpreter(config(site_packages=[site_dir])))
            self.assertIn(site_dir, sys.path)
            self.assertIn(extra, sys.path)

    def test_executable(self):
        self.assertIsNone(tandem._setup_interpreter(config(executable="/opt/venv/bin/python3")))
        self.assertEqual(sys.executable, "/opt/venv/bin/python3")

    def test_init_hook_gets_the_worker(self):
        from apps import setup_hooks

        setup_hooks.seen.clear()
        self.assertIsNone(tandem._setup_interpreter(config(init="apps.setup_hooks:record")))
        [worker] = setup_hooks.seen
        self.assertEqual((worker.index, worker.cpu, worker.count), (2, 5, 4))
        self.assertEqual(worker.isolation, "own_gil")
        with self.assertRaises(AttributeError):
            worker.index = 3
        with self.assertRaises(AttributeError):
            worker.other = 3
        self.assertIn("index=2", repr(worker))

    def test_unpinned_worker_has_no_cpu(self):
        from apps import setup_hooks

        setup_hooks.seen.clear()
        worker = {"index": 0, "cpu": None, "count": 1}
        self.assertIsNone(tandem._setup_interpreter(
            config(init="apps.setup_hooks:record", worker=worker, isolation="shared")))
        self.assertIsNone(setup_hooks.seen[0].cpu)
        self.assertEqual(setup_hooks.seen[0].isolation, "shared")

    def test_init_hook_runs_once_per_interpreter(self):
        # Shared mode sets up the one main interpreter for every worker, and again on reload.
        from apps import setup_hooks

        setup_hooks.seen.clear()
        for index in range(3):
            worker = {"index": index, "cpu": None, "count": 3}
            self.assertIsNone(tandem._setup_interpreter(
                config(init="apps.setup_hooks:record", worker=worker, isolation="shared")))
        self.assertEqual([w.index for w in setup_hooks.seen], [0])

    def test_failed_init_hook_runs_again(self):
        for _ in range(2):
            self.assertIn("database unreachable",
                          tandem._setup_interpreter(config(init="apps.setup_hooks:fails")))

    def test_error_texts_are_utf8_encodable(self):
        error = tandem._setup_interpreter(config(init="apps.setup_hooks:\udcff"))
        error.encode("utf-8")
        self.assertIn("\\udcff", error)
        _, error = tandem._new_dispatcher(json.dumps({"routes": [route("apps.nope\udcff:x")]}))
        error.encode("utf-8")

    def test_init_hook_failure(self):
        error = tandem._setup_interpreter(config(init="apps.setup_hooks:fails"))
        self.assertIn("python.init apps.setup_hooks:fails failed in worker 2", error)
        self.assertIn("RuntimeError: database unreachable", error)
        self.assertIn("Traceback", error)

    def test_init_hook_system_exit_is_contained(self):
        error = tandem._setup_interpreter(config(init="apps.setup_hooks:exits"))
        self.assertIn("SystemExit: 1", error)

    def test_init_hook_refused_extension_hint(self):
        error = tandem._setup_interpreter(config(init="apps.setup_hooks:refused"))
        self.assertIn("numpy.core._multiarray_umath", error)
        self.assertIn("per-interpreter GIL (PEP 684)", error)
        self.assertIn("python: {isolation: shared}", error)

    def test_init_hook_import_errors(self):
        cases = [
            ("apps.nope:setup", 'cannot import module "apps.nope"'),
            ("apps.broken:setup", "broken on purpose at import time"),
            ("apps.setup_hooks:missing", 'module "apps.setup_hooks" has no attribute "missing"'),
            ("apps.setup_hooks:not_callable", "is an int, not a function"),
            ("apps.setup_hooks", "not of the form module:function"),
        ]
        for init, fragment in cases:
            with self.subTest(init=init):
                error = tandem._setup_interpreter(config(init=init))
                self.assertIsInstance(error, str)
                self.assertIn(fragment, error)
                self.assertIn("python.init", error)

    def test_init_refused_extension_import(self):
        error = tandem._setup_interpreter(config(init="apps.uses_refused:handler"))
        self.assertIn("fastjson_ext", error)
        self.assertIn("python: {isolation: shared}", error)

    def test_bad_config_never_raises(self):
        for bad in ("not json", None, "[]", '{"path": 5}'):
            with self.subTest(bad=bad):
                error = tandem._setup_interpreter(bad)
                self.assertIsInstance(error, str)
                self.assertIn("invalid interpreter configuration", error)


class DispatcherSetupErrors(unittest.TestCase):
    def test_import_error_names_route_and_target(self):
        error = build_error(route("apps.nope:handler", "/things"))
        self.assertIn('cannot import module "apps.nope"', error)
        self.assertIn('route "/things" (handler apps.nope:handler)', error)
        self.assertIn("ModuleNotFoundError", error)
        self.assertIn("python.path", error)
        self.assertNotIn("Traceback", error)  # only tandem's own frames: nothing to show

    def test_missing_dependency_shows_traceback(self):
        error = build_error(route("apps.missing_dependency:handler", "/dep"))
        self.assertIn("Traceback", error)
        self.assertIn("missing_dependency.py", error)
        self.assertIn("hint: install no_such_dependency_pkg", error)

    def test_duplicate_route_ids(self):
        error = build_error(route(H + "noop", "/a", id=3), route(H + "noop", "/b", id=3))
        self.assertIn('route "/b": duplicate route id 3', error)

    def test_import_traceback_shows_user_code_only(self):
        error = build_error(route("apps.broken:handler", "/b"))
        self.assertIn("broken on purpose at import time", error)
        self.assertIn("broken.py", error)
        self.assertNotIn("importlib._bootstrap", error)

    def test_one_report_per_failing_module(self):
        error = build_error(route("apps.broken:a", "/a", id=1),
                            route(H + "noop", "/b", middleware=["apps.broken:mw"], id=2))
        self.assertTrue(error.startswith("1 problem in the Python routes"), error)
        self.assertEqual(error.count("Traceback"), 1)
        self.assertIn('route "/a" (handler apps.broken:a), route "/b" (middleware apps.broken:mw)',
                      error)

    def test_refused_extension_hint_names_routes(self):
        error = build_error(route("apps.uses_refused:handler", "/fast", id=1),
                            route("apps.uses_refused:handler", "/faster", id=2))
        self.assertIn("module fastjson_ext does not support loading in subinterpreters", error)
        self.assertIn("does not support a per-interpreter GIL (PEP 684)", error)
        self.assertIn('route "/fast" (handler apps.uses_refused:handler), '
                      'route "/faster" (handler apps.uses_refused:handler)', error)
        self.assertIn("python: {isolation: shared}", error)

    def test_target_problems(self):
        cases = [
            (route("apps.handlers:missing"), 'module "apps.handlers" has no attribute "missing"'),
            (route("apps.handlers"), 'handler "apps.handlers" is not of the form module:function'),
            (route(":noop"), "not of the form module:function"),
            (route("apps.setup_hooks:not_callable"), "is an int, not a function"),
            (route("apps.async_handlers:handler"), "coroutine function"),
            (route(H + "noop", kind="grpc"), 'unknown kind "grpc"'),
        ]
        for spec, fragment in cases:
            with self.subTest(target=spec["target"]):
                error = build_error(spec)
                self.assertIn(fragment, error)
                self.assertIn('route "/"', error)

    def test_parameter_without_default_that_is_not_a_path_param(self):
        error = build_error(route(H + "hello", "/greet"))
        self.assertIn('route "/greet": handler apps.handlers:hello: '
                      'parameter "name" has no default', error)
        self.assertIn("neither \"request\" nor a path parameter", error)

    def test_path_param_the_handler_cannot_accept(self):
        error = build_error(route(H + "noop", "/items/:id", ["id"]))
        self.assertIn('route "/items/:id": handler apps.handlers:noop cannot accept the path '
                      'parameter "id"', error)
        self.assertIn("**kwargs", error)

    def test_wildcard_needs_no_parameter(self):
        build(route(H + "noop", "/files/*", ["*"]))

    def test_annotation_problems(self):
        cases = [
            (route(H + "union_param", "/u/:x", ["x"]), 'parameter "x": unsupported annotation'),
            (route(H + "nested_list"), "lists of lists"),
            (route(H + "container_param"), 'parameter "x": unsupported annotation tuple'),
            (route(H + "query_lists", "/q/:ids", ["ids"]), 'path parameter "ids" cannot be a list'),
            (route("apps.future_handlers:unresolvable", "/n/:n", ["n"]),
             "cannot resolve its annotation 'NoSuchType'"),
        ]
        for spec, fragment in cases:
            with self.subTest(target=spec["target"]):
                self.assertIn(fragment, build_error(spec))

    def test_path_param_named_request(self):
        error = build_error(route(H + "needs_path_param_named_request", "/r/:request",
                                  ["request"]))
        self.assertIn('the path parameter "request" clashes', error)

    def test_middleware_problems(self):
        cases = [
            ("apps.middleware:wrong_signature", "must accept (request, call_next)"),
            ("apps.middleware:async_middleware", "coroutine function"),
            ("apps.middleware:nope", 'has no attribute "nope"'),
            ("apps.nope:mw", 'cannot import module "apps.nope"'),
        ]
        for mw, fragment in cases:
            with self.subTest(middleware=mw):
                error = build_error(route(H + "noop", "/m", middleware=[mw]))
                self.assertIn(fragment, error)
                self.assertIn('route "/m"', error)

    def test_every_problem_is_reported(self):
        error = build_error(route(H + "hello", "/a", id=1), route(H + "missing", "/b", id=2),
                            route(H + "noop", "/c", middleware=["apps.middleware:wrong_signature"],
                                  id=3),
                            route(H + "noop", "/fine", id=4))
        self.assertTrue(error.startswith("3 problems in the Python routes:"), error)
        for path in ("/a", "/b", "/c"):
            self.assertIn('route "%s"' % path, error)
        self.assertNotIn("/fine", error)

    def test_target_and_middleware_problems_of_one_route(self):
        error = build_error(route(H + "missing", "/both",
                                  middleware=["apps.middleware:wrong_signature"]))
        self.assertTrue(error.startswith("2 problems"), error)

    def test_bad_configuration_never_raises(self):
        for bad in ("nope", None, '{"routes": [{"kind": "python"}]}', '{"routes": 5}'):
            with self.subTest(bad=bad):
                dispatch, error = tandem._new_dispatcher(bad)
                self.assertIsNone(dispatch)
                self.assertIn("invalid Python routes configuration", error)

    def test_no_routes(self):
        dispatch = build()
        self.assertEqual(dispatch(1, ("GET",) + ("",) * 8, (), (), b"")[0], 500)


class Dispatchers(unittest.TestCase):
    def test_dispatchers_are_independent(self):
        first = build(route(H + "ret_str", id=1))
        second = build(route(H + "ret_list", id=1), route(H + "ret_none", id=2))
        self.assertEqual(call(first, 1).text(), "héllo")
        self.assertEqual(call(second, 1).json(), [1, "two", {"three": 3}])
        self.assertEqual(call(first, 2).status, 500)
        self.assertEqual(call(second, 2).status, 204)

    def test_handlers_imported_at_setup(self):
        sys.modules.pop("apps.lazy_import_probe", None)
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "probe_setup_import.py"), "w") as f:
                f.write("IMPORTED = True\ndef handler(request):\n    return 'probe'\n")
            sys.path.insert(0, tmp)
            try:
                build(route("probe_setup_import:handler"))
                self.assertIn("probe_setup_import", sys.modules)
            finally:
                sys.path.remove(tmp)
                sys.modules.pop("probe_setup_import", None)


if __name__ == "__main__":
    unittest.main()
