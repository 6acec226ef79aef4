# Takes a while to load (imports, then a pause) so that concurrent first requests to a new
# application group overlap with its loading. Reports how often this interpreter executed
# the script (must stay 1: one load per (group, script)) and the threading facts.
import decimal
import email.parser
import json
import os
import sys
import threading
import time
import xml.dom.minidom

sys._gantry_slow_loads = getattr(sys, "_gantry_slow_loads", 0) + 1
time.sleep(0.3)


def application(environ, start_response):
    body = json.dumps({
        "application_group": environ.get("mod_wsgi.application_group"),
        "pid": os.getpid(),
        "loads": sys._gantry_slow_loads,
        "interp": id(sys.modules),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
