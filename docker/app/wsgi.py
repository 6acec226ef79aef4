# The application docker/compose.yaml serves: replace this directory with your own (the
# container runs /srv/app/wsgi.py; GANTRY_APP names another script).
import socket


def application(environ, start_response):
    body = ('Hello from Gantry on %s\n' % socket.gethostname()).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
