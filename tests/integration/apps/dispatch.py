# A WSGIDispatchScript for test_dispatch_script.py: the query string says what to answer.
#   pg=NAME / ag=NAME / co=NAME   returned by process_group() / application_group() /
#                                 callable_object() (GLOBAL stands for %{GLOBAL})
#   bytes=1                       return them as bytes instead of str
#   raise=1 / badtype=1           raise, or return an int, from process_group()
#   report=1                      write what the dispatch script itself sees to wsgi.errors
import urllib.parse


def _params(environ):
    return dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))


def _answer(environ, key):
    params = _params(environ)
    value = params.get(key)
    if value == "GLOBAL":
        value = "%{GLOBAL}"
    if value is not None and params.get("bytes"):
        value = value.encode("latin-1")
    return value


def process_group(environ):
    params = _params(environ)
    if params.get("raise"):
        raise RuntimeError("dispatch script failed on purpose")
    if params.get("badtype"):
        return 42
    if params.get("report"):
        environ["wsgi.errors"].write(
            "dispatch saw process_group=%r application_group=%r callable=%r uri=%r\n" % (
                environ.get("mod_wsgi.process_group"), environ.get("mod_wsgi.application_group"),
                environ.get("mod_wsgi.callable_object", "<absent>"), environ.get("REQUEST_URI")))
    return _answer(environ, "pg")


def application_group(environ):
    return _answer(environ, "ag")


def callable_object(environ):
    return _answer(environ, "co")
