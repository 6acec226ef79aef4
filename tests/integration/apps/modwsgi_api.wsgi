"""App for the mod_wsgi Python API tests (test_modwsgi_api.py): subscribes to mod_wsgi's
events at import and writes what each request published to <ServerRoot>/state/events-<hex of the id>.json
when the request finishes (so a test can read it whichever process served the request), and
answers with what the mod_wsgi and apache modules report."""
import json
import os
import threading
from pathlib import Path

import mod_wsgi

STATE = Path(__file__).resolve().parent.parent / "state"
_events = {}
_lock = threading.Lock()


def _plain(value):
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return type(value).__name__


@mod_wsgi.subscribe_events
def record(name, **event):
    if name == "process_stopping":
        return None
    request_id = event.get("request_id")
    entry = {"name": name, "keys": sorted(event), "values": {k: _plain(v) for k, v in event.items()}}
    if name == "request_exception":
        entry["exception"] = repr(event["exception_info"][1])
    if name == "response_started":
        entry["headers"] = [list(h) for h in event["response_headers"]]
    if name == "request_started":
        event["request_data"]["seen_at_start"] = True
    with _lock:
        _events.setdefault(request_id, []).append(entry)
        if name != "request_finished":
            return None
        done = _events.pop(request_id)
    # Apache's log ids use base64 letters ('/' and '+' included): hex for a file name.
    path = STATE / f"events-{str(request_id).encode().hex()}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(done))
    os.replace(tmp, path)  # the test never sees half a file
    return None


def _describe(value):
    """Key -> type name, recursively, for the metrics dicts."""
    if isinstance(value, dict):
        return {k: _describe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_describe(v) for v in value[:1]] + ([len(value)] if value else [0])
    return type(value).__name__


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    request_id = environ.get("mod_wsgi.request_id")
    out = {"pid": os.getpid(), "request_id": request_id}
    if path == "/raise":
        raise RuntimeError("raised on purpose by modwsgi_api.wsgi")
    if path == "/echo":
        body = environ["wsgi.input"].read()
        out["read"] = len(body)
    elif path == "/active":
        data = mod_wsgi.request_data()
        data["marker"] = "from the app"
        active = mod_wsgi.active_requests
        out["active_ids"] = sorted(active)
        out["mine_is_request_data"] = active.get(request_id) is data
        out["marker"] = active.get(request_id, {}).get("marker")
        out["seen_at_start"] = data.get("seen_at_start")
    elif path == "/metrics":
        pm = mod_wsgi.process_metrics()
        sm = mod_wsgi.server_metrics()
        out["process_metrics"] = pm
        out["process_types"] = _describe(pm)
        out["server_types"] = _describe(sm) if sm is not None else None
        out["server_pids"] = [p["pid"] for p in sm["processes"]] if sm is not None else None
        out["total_requests"] = environ["mod_wsgi.total_requests"]
        out["thread_id"] = environ["mod_wsgi.thread_id"]
    elif path == "/request-metrics":
        if hasattr(mod_wsgi, "start_recording_metrics"):  # 6.0; 4.9.4 starts at the first call
            mod_wsgi.start_recording_metrics()
        out["request_metrics"] = mod_wsgi.request_metrics()
    elif path == "/modules":
        import apache
        out["mod_wsgi"] = {k: getattr(mod_wsgi, k) for k in (
            "version", "process_group", "application_group", "maximum_processes",
            "threads_per_process")}
        out["apache"] = {k: getattr(apache, k) for k in (
            "version", "mpm_name", "maximum_processes", "threads_per_process", "description",
            "build_date")}
    body = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
