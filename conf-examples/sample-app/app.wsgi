# Sample WSGI application for Gantry (and mod_wsgi): "/" says hello, "/environ" dumps the
# WSGI environ as sorted "key=value" lines, "/echo" returns the request body. Runs unchanged
# under mod_wsgi, which is how Gantry's environ is compared against the original.

def _environ_lines(environ):
    for key in sorted(environ):
        yield '%s=%r\n' % (key, environ[key]) if not isinstance(environ[key], str) \
            else '%s=%s\n' % (key, environ[key])


def application(environ, start_response):
    path = environ.get('PATH_INFO', '')
    if path.endswith('/environ'):
        body = ''.join(_environ_lines(environ)).encode('utf-8', 'backslashreplace')
    elif path.endswith('/echo'):
        body = environ['wsgi.input'].read()
    else:
        body = b'Hello from a WSGI application!\n'
    start_response('200 OK', [('Content-Type', 'text/plain; charset=utf-8'),
                              ('Content-Length', str(len(body)))])
    return [body]
