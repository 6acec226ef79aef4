# A Flask application in a directory mapped by WSGIScriptAlias (conf-examples/flask-directory.conf):
# the .wsgi file puts its own directory on sys.path and imports the Flask app as `application`,
# as Flask's mod_wsgi guide shows.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hello_app import app as application  # noqa: E402,F401
