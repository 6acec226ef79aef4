# WSGIAuthUserScript for the auth tests: mod_wsgi's documented provider functions.
# check_password: True / False / None (no such user) / a str (the user name to use instead).
# get_realm_hash: md5("user:realm:password") as str or bytes, or None (no such user).
# User "crash" raises in both; "probe" records the environ it was given (keys and types).
import hashlib
import json
import os

USERS = {"alice": "secret", "bob": "builder", "groupcrash": "pw", "renamed": "pw"}
STATE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "state")


def record(environ, what):
    seen = {k: type(v).__name__ for k, v in environ.items()}
    seen["mod_wsgi.application_group"] = environ.get("mod_wsgi.application_group")
    seen["mod_wsgi.process_group"] = environ.get("mod_wsgi.process_group")
    seen["REQUEST_URI"] = environ.get("REQUEST_URI")
    seen["pid"] = os.getpid()
    with open(os.path.join(STATE, what + ".json"), "w") as f:
        json.dump(seen, f)


def check_password(environ, user, password):
    if user == "crash":
        raise RuntimeError("check_password failed on purpose")
    if user == "probe":
        record(environ, "basic_environ")
        return True
    if user not in USERS:
        return None
    if user == "renamed" and password == "pw":
        return "renamed-by-script"
    return USERS[user] == password


def get_realm_hash(environ, user, realm):
    if user == "crash":
        raise RuntimeError("get_realm_hash failed on purpose")
    if user not in USERS:
        return None
    digest = hashlib.md5(("%s:%s:%s" % (user, realm, USERS[user])).encode()).hexdigest()
    return digest.encode() if user == "bob" else digest
