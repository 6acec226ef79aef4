# Identifies itself and how the server split the URL (directory WSGIScriptAlias targets).
import json


def application(environ, start_response):
    body = json.dumps({"script": "b",
                       "SCRIPT_NAME": environ.get("SCRIPT_NAME"),
                       "PATH_INFO": environ.get("PATH_INFO"),
                       "SCRIPT_FILENAME": environ.get("SCRIPT_FILENAME")}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
