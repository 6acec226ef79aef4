# Sample WSGI application for Gantry (and mod_wsgi). Runs unchanged under both, which is how
# Gantry's behaviour is compared against the original.
#
#   /               says hello
#   .../environ     the WSGI environ as sorted "key=value" lines
#   .../echo        the request body
#   ?info           JSON: which process served the request (pid, process group, user,
#                   argv as ps shows it) and the app.name SetEnv value - any path
#   ?alloc=MB       allocates and touches MB megabytes for the duration of the request
#                   (a memory-hungry request), then answers like ?info
import json
import os


def _environ_lines(environ):
    for key in sorted(environ):
        yield '%s=%r\n' % (key, environ[key]) if not isinstance(environ[key], str) \
            else '%s=%s\n' % (key, environ[key])


def _query(environ):
    out = {}
    for part in environ.get('QUERY_STRING', '').split('&'):
        if part:
            key, _, value = part.partition('=')
            out[key] = value
    return out


def _info(environ):
    return {
        'pid': os.getpid(),
        'uid': os.getuid(),
        'gid': os.getgid(),
        'process_group': environ.get('mod_wsgi.process_group'),
        'application_group': environ.get('mod_wsgi.application_group'),
        'app_name': environ.get('app.name'),
        'path_info': environ.get('PATH_INFO'),
    }


def application(environ, start_response):
    path = environ.get('PATH_INFO', '')
    query = _query(environ)
    content_type = 'text/plain; charset=utf-8'
    if 'alloc' in query:
        block = bytearray(int(query['alloc']) * 1024 * 1024)
        for i in range(0, len(block), 4096):  # touch every page: it must become resident
            block[i] = 1
        info = _info(environ)
        info['allocated'] = len(block)
        del block
        body = json.dumps(info).encode()
        content_type = 'application/json'
    elif 'info' in query:
        body = json.dumps(_info(environ)).encode()
        content_type = 'application/json'
    elif path.endswith('/environ'):
        body = ''.join(_environ_lines(environ)).encode('utf-8', 'backslashreplace')
    elif path.endswith('/echo'):
        body = environ['wsgi.input'].read()
    else:
        body = b'Hello from a WSGI application!\n'
    start_response('200 OK', [('Content-Type', content_type),
                              ('Content-Length', str(len(body)))])
    return [body]
