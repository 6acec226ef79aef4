"""Run by preflight as the daemon user, with the Python the daemon group will use (the
embedded version, or the virtual environment's): can that user read the application, and does
it import with the sys.path the daemon will have? Prints one JSON object on stdout.

Executed with `python -c` (its source is passed, so the daemon user needs no access to the
gantry_express package): standard library only, argv[1] is a JSON object of settings.
"""
import json
import os
import site
import sys
import traceback


def report(**result):
    print(json.dumps(result))
    sys.exit(0)


def blocking_directory(path):
    """The first directory on the way to `path` this user cannot search, if any."""
    current = "/"
    for part in os.path.dirname(path).strip("/").split("/"):
        if not part:
            continue
        current = os.path.join(current, part)
        if not os.access(current, os.X_OK):
            return current
    return None


def check_readable(path):
    try:
        with open(path, "rb"):
            return
    except FileNotFoundError:
        blocked = blocking_directory(path)
        if blocked:
            report(ok=False, kind="unreadable", path=path, blocked=blocked,
                   error="Permission denied")
        report(ok=False, kind="missing", path=path, error="No such file")
    except OSError as e:
        report(ok=False, kind="unreadable", path=path, blocked=blocking_directory(path),
               error=e.strerror or str(e))


def set_up_path(settings):
    """sys.path as the daemon will have it: python-path entries (site.addsitedir, .pth files
    processed) lead it, the working directory comes last; no '' for the current directory."""
    if sys.path and sys.path[0] == "":
        del sys.path[0]
    before = list(sys.path)
    for directory in settings["python_paths"]:
        site.addsitedir(directory)
    added = [p for p in sys.path if p not in before]
    sys.path[:] = added + before
    if settings["working_directory"] not in sys.path:
        sys.path.append(settings["working_directory"])


def install_stand_ins(settings):
    """Gantry's interpreters have the built-in modules `mod_wsgi` and `apache`; an application
    may import them at import time. The check gives it stand-ins with the daemon's facts, and
    no-op functions for anything else (events never fire here)."""
    import types

    def no_op(*args, **kwargs):
        return args[0] if len(args) == 1 and callable(args[0]) else None

    def fallback(name):
        if name.startswith("__"):
            raise AttributeError(name)
        return no_op

    for name in ("mod_wsgi", "apache"):
        module = types.ModuleType(name)
        module.__getattr__ = fallback
        sys.modules.setdefault(name, module)
    mod_wsgi = sys.modules["mod_wsgi"]
    mod_wsgi.version = (4, 9, 4)
    mod_wsgi.process_group = settings["process_group"]
    mod_wsgi.application_group = ""
    mod_wsgi.maximum_processes = settings["processes"]
    mod_wsgi.threads_per_process = settings["threads"]
    mod_wsgi.event_callbacks = []
    mod_wsgi.shutdown_callbacks = []
    mod_wsgi.active_requests = {}
    mod_wsgi.RequestTimeout = type("RequestTimeout", (BaseException,), {})


def app_traceback(e):
    """The traceback from the application's frames on (not this checker's)."""
    frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename != "<string>"]
    return "".join(["Traceback (most recent call last):\n"]
                   + traceback.format_list(frames)
                   + traceback.format_exception_only(type(e), e))


def load(settings):
    if settings["application_type"] == "module":
        import importlib
        return vars(importlib.import_module(settings["entry_point"]))
    namespace = {"__name__": "_gantry_express_app", "__file__": settings["entry_point"]}
    with open(settings["entry_point"], "rb") as f:
        code = compile(f.read(), settings["entry_point"], "exec", dont_inherit=True)
    exec(code, namespace)
    return namespace


def main():
    settings = json.loads(sys.argv[1])
    if not os.access(settings["socket_directory"], os.X_OK | os.W_OK if
                     settings["socket_directory_writable"] else os.X_OK):
        report(ok=False, kind="socket_directory", path=settings["socket_directory"],
               blocked=blocking_directory(os.path.join(settings["socket_directory"], "x")))
    if settings["application_type"] == "script":
        check_readable(settings["entry_point"])
    try:
        os.chdir(settings["working_directory"])
    except OSError as e:
        report(ok=False, kind="working_directory", path=settings["working_directory"],
               error=e.strerror or str(e))
    set_up_path(settings)
    install_stand_ins(settings)
    try:
        namespace = load(settings)
    except BaseException as e:  # the app's own import errors, SystemExit included
        lines = traceback.format_exception_only(type(e), e)
        report(ok=False, kind="import", error=lines[-1].strip(),
               exception=type(e).__name__, name=getattr(e, "name", None),
               traceback=app_traceback(e), sys_path=sys.path)
    if not callable(namespace.get(settings["callable_object"])):
        report(ok=False, kind="callable", name=settings["callable_object"],
               names=sorted(k for k, v in namespace.items()
                            if callable(v) and not k.startswith("_")))
    report(ok=True, version=list(sys.version_info[:2]), prefix=sys.prefix)


main()
