# Stand-in for Graphite's conf/graphite.wsgi, same shape: put the webapp directory on sys.path
# and import the WSGI application from it. Loaded twice per daemon process by the example
# config (WSGIImportScript at start-up, WSGIScriptAlias on requests), executed once: both name
# the same script in the same interpreter.
import os
import sys

# Not in Graphite's file: counts executions of this script in the process (the test expects 1).
sys.graphite_wsgi_executions = getattr(sys, "graphite_wsgi_executions", 0) + 1

sys.path.append(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "webapp"))

from graphite_standin.wsgi import application  # noqa: E402,F401
