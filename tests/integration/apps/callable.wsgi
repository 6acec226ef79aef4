# WSGICallableObject: `application` must NOT be called when the directive names `custom`.
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"default callable"]


def custom(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"custom callable"]
