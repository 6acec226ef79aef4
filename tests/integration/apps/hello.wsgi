# The smallest WSGI app: a fixed body.
def application(environ, start_response):
    body = b"Hello from WSGI\n"
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
