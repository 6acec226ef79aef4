# Deliberately broken: the server must answer 500 and name this file in the log.
def application(environ, start_response)
    return []
