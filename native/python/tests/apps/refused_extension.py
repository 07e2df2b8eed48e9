"""Stands in for a C extension that refuses own-GIL sub-interpreters.

CPython raises exactly this ImportError (3.12 to 3.14) for an extension module without
``Py_mod_multiple_interpreters = Py_MOD_PER_INTERPRETER_GIL_SUPPORTED``.
"""

raise ImportError("module fastjson_ext does not support loading in subinterpreters",
                  name="fastjson_ext")
