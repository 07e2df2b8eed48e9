"""The dispatch benchmark runs (a smoke test; its timings are read by people, not asserted)."""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _support import PYTHON_DIR  # noqa: E402


class Benchmark(unittest.TestCase):
    def test_runs_and_reports_every_case(self):
        script = os.path.join(PYTHON_DIR, "bench_dispatch.py")
        result = subprocess.run([sys.executable, script, "200"], capture_output=True, text=True,
                                timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = [line for line in result.stdout.splitlines() if line.endswith("us/dispatch")]
        self.assertEqual(len(lines), 5, result.stdout)
        self.assertIn("no-op handler returning a dict", result.stdout)


if __name__ == "__main__":
    unittest.main()
