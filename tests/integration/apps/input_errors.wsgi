# Reads the whole request body and records in $GANTRY_STATE/input-<token>.json how that
# went (complete, or the exception wsgi.input raised: type, its MRO and message), then
# answers with a body of its own that must never follow an error answer Apache already
# gave for the body.
import json
import os
import urllib.parse


def application(environ, start_response):
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    token = query["token"][0]
    try:
        total = 0
        while True:
            piece = environ["wsgi.input"].read(8192)
            if not piece:
                break
            total += len(piece)
        outcome = {"complete": total}
    except Exception as error:  # what the test looks at
        outcome = {"type": type(error).__name__,
                   "mro": [c.__name__ for c in type(error).__mro__],
                   "message": str(error)}
    path = os.path.join(environ["GANTRY_STATE"], f"input-{token}.json")
    with open(path + ".tmp", "w") as f:
        json.dump(outcome, f)
    os.rename(path + ".tmp", path)
    body = b"APPLICATION BODY AFTER THE INPUT ERROR"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
