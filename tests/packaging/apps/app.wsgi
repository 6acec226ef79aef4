# The packaging tests' application: which host answered, and a slow request to prove that
# stops and restarts let in-flight requests finish.
#   /            "hello from HOST pid PID" (HOST: GANTRY_TEST_HOST from the server's
#                environment, else the hostname)
#   /sleep?S     answers after S seconds (a float); first creates /srv/state/sleeping-PID
#                when /srv/state exists, so a test knows the request is in flight
import os
import socket
import time

STATE = '/srv/state'


def application(environ, start_response):
    if environ.get('PATH_INFO') == '/sleep':
        if os.path.isdir(STATE):
            open(os.path.join(STATE, 'sleeping-%d' % os.getpid()), 'w').close()
        time.sleep(float(environ.get('QUERY_STRING') or '1'))
    host = os.environ.get('GANTRY_TEST_HOST') or socket.gethostname()
    body = ('hello from %s pid %d\n' % (host, os.getpid())).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
