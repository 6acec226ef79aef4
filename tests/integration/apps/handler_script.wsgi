# A WSGIHandlerScript for test_handler_script.py: mod_wsgi calls handle_request() of a
# handler script; `application` is here to show it is not the one called.
import json


def handle_request(environ, start_response):
    body = json.dumps({
        "callable": "handle_request",
        "SCRIPT_FILENAME": environ.get("SCRIPT_FILENAME"),
        "SCRIPT_NAME": environ.get("SCRIPT_NAME"),
        "PATH_INFO": environ.get("PATH_INFO"),
        "handler_script": environ.get("mod_wsgi.handler_script"),
        "request_handler": environ.get("mod_wsgi.request_handler"),
        "process_group": environ.get("mod_wsgi.process_group"),
        "application_group": environ.get("mod_wsgi.application_group"),
        "callable_object": environ.get("mod_wsgi.callable_object"),
        "authorization": environ.get("HTTP_AUTHORIZATION"),
        "daemon": "mod_wsgi.daemon_start" in environ,
        "file_content": open(environ["SCRIPT_FILENAME"]).read()
        if environ.get("SCRIPT_FILENAME", "").endswith(".myext") else None,
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def application(environ, start_response):
    start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
    return [b"application() of a handler script was called"]
