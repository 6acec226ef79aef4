# Returns the WSGI environ as JSON: str values as they are, bool/int/None/tuples as JSON,
# objects (wsgi.input, wsgi.errors, ...) as "<object TypeName>" so two servers can be compared.
# ?errors=TEXT writes TEXT to wsgi.errors first. The request method also goes out as
# X-Request-Method so HEAD requests can see it.
import json
import urllib.parse


def encode(value):
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    if isinstance(value, tuple):
        return [encode(v) for v in value]
    return "<object %s>" % type(value).__name__


def application(environ, start_response):
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    if "errors" in query:
        environ["wsgi.errors"].write(query["errors"][0] + "\n")
        environ["wsgi.errors"].flush()
    body = json.dumps({k: encode(v) for k, v in environ.items()}, sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body))),
                              ("X-Request-Method", environ["REQUEST_METHOD"])])
    return [body]
