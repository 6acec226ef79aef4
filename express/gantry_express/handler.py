"""gantry-express's WSGI handler script, copied into the server root as handler.wsgi and run
by Gantry in each daemon process (WSGIHandlerScript / WSGIImportScript).

It loads the user's application as its settings (handler.json, next to this file) say: a
script file executed like mod_wsgi executes one (no bytecode written next to it), or a module
imported. Gantry calls `handle_request` for every request that reaches the application and,
before it, `reload_required`: a changed script is loaded again in place, as mod_wsgi reloads
a WSGI script. With reload_on_changes a thread watches every Python file the process has
loaded and, when one changes, asks Gantry for a graceful restart of this daemon process
(SIGINT, as Apache's graceful restart does), so the new code is imported from scratch.

Runs inside the embedded Python: standard library only, no import of gantry_express.
"""
import importlib
import json
import os
import signal
import sys
import threading
import time
import types

_SETTINGS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "handler.json")
with open(_SETTINGS_FILE, encoding="utf-8") as _f:
    SETTINGS = json.load(_f)

MONITOR_THREAD = "gantry-express-monitor"
MONITOR_INTERVAL = 1.0  # seconds between two scans of the loaded files
SCRIPT_MODULE = "_gantry_express_app"

# The working directory is importable (appended: it never shadows the standard library or
# --python-path), so `from myapp import app` works from a script next to myapp/.
if SETTINGS["working_directory"] not in sys.path:
    sys.path.append(SETTINGS["working_directory"])


def _mtime(path):
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _load_script(path):
    module = types.ModuleType(SCRIPT_MODULE)
    module.__file__ = path
    sys.modules[SCRIPT_MODULE] = module
    with open(path, "rb") as f:
        code = compile(f.read(), path, "exec", dont_inherit=True)
    exec(code, module.__dict__)
    return module


def _load():
    if SETTINGS["application_type"] == "module":
        module = importlib.import_module(SETTINGS["entry_point"])
    else:
        module = _load_script(SETTINGS["entry_point"])
    application = getattr(module, SETTINGS["callable_object"], None)
    if application is None:
        raise AttributeError(f"{SETTINGS['entry_point']} has no WSGI callable named "
                             f"{SETTINGS['callable_object']!r}")
    return module, application


_module, _application = _load()
_source = getattr(_module, "__file__", None)
_source_mtime = _mtime(_source) if _source else None


def handle_request(environ, start_response):
    # The application is mounted at the root: Apache handed the request to this handler for
    # the document root file it did not find, so SCRIPT_NAME names that file; the
    # application sees the whole path as PATH_INFO, as under mod_wsgi-express.
    environ["PATH_INFO"] = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    environ["SCRIPT_NAME"] = ""
    return _application(environ, start_response)


def reload_required(resource):
    """True when the application's own file changed since it was loaded: Gantry then runs
    this handler again, which loads the new version."""
    return _source is not None and _mtime(_source) != _source_mtime


def _loaded_files():
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path and os.path.isfile(path):
            yield path


def _watch():
    seen = {}
    while True:
        for path in _loaded_files():
            mtime = _mtime(path)
            if path not in seen:
                seen[path] = mtime
            elif mtime != seen[path]:
                print(f"gantry-express: {path} changed: restarting daemon process "
                      f"{os.getpid()}", file=sys.stderr, flush=True)
                os.kill(os.getpid(), signal.SIGINT)
                return
        time.sleep(MONITOR_INTERVAL)


def _start_monitor():
    # One per process: the handler is executed again when the script changes.
    if any(t.name == MONITOR_THREAD for t in threading.enumerate()):
        return
    threading.Thread(target=_watch, name=MONITOR_THREAD, daemon=True).start()


if SETTINGS["reload_on_changes"]:
    _start_monitor()
