# Reports threading's view of the request thread: which thread threading considers the
# interpreter's main thread, and which thread runs this request.
import json
import os
import threading


def application(environ, start_response):
    main = threading.main_thread()
    body = json.dumps({
        "pid": os.getpid(),
        "application_group": environ.get("mod_wsgi.application_group"),
        "main_ident": main.ident,
        "main_name": main.name,
        "main_alive": main.is_alive(),
        "ident": threading.get_ident(),
        "current_is_main": threading.current_thread() is main,
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
