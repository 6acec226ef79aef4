# Reports which interpreter serves it: the application group mod_wsgi says, an id of this
# interpreter's sys.modules (different per sub-interpreter), a per-interpreter hit counter,
# and process-wide Python facts set by WSGIPython* / WSGIImportScript.
import json
import os
import sys

sys._gantry_test_loads = getattr(sys, "_gantry_test_loads", 0) + 1


def application(environ, start_response):
    """Docstring: stripped when WSGIPythonOptimize is 2."""
    sys._gantry_test_hits = getattr(sys, "_gantry_test_hits", 0) + 1
    try:
        import gantry_testlib
        testlib = gantry_testlib.MARKER
    except ImportError:
        testlib = None
    try:
        import gantry_testlib2
        testlib2 = gantry_testlib2.MARKER
    except ImportError:
        testlib2 = None
    try:
        import gantry_pth_lib  # on sys.path through a .pth file of a python-path entry
        pth_lib = gantry_pth_lib.MARKER
    except ImportError:
        pth_lib = None
    try:
        import gantry_venv_marker
        venv = gantry_venv_marker.MARKER
    except ImportError:
        venv = None
    body = json.dumps({
        "application_group": environ.get("mod_wsgi.application_group"),
        "process_group": environ.get("mod_wsgi.process_group"),
        "pid": os.getpid(),
        "interp": id(sys.modules),
        "hits": sys._gantry_test_hits,
        "loads": sys._gantry_test_loads,
        "import_marker": getattr(sys, "gantry_import_marker", None),
        "optimize": sys.flags.optimize,
        "prefix": sys.prefix,
        "base_prefix": sys.base_prefix,
        "testlib": testlib,
        "testlib2": testlib2,
        "venv_marker": venv,
        "pth_lib": pth_lib,
        "pth_runs": getattr(sys, "gantry_pth_runs", None),
        "docstrings": application.__doc__ is not None,
        "path": sys.path,
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
