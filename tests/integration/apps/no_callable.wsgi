# Deliberately has no `application`: the server must answer 500 and name the callable.
def not_the_app(environ, start_response):
    start_response("200 OK", [])
    return [b""]
