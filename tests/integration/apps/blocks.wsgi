# A list response of ?count= blocks of ?size= bytes: nothing in it asks for a flush, so how
# often the response is flushed on its way to the client is the server's choice
# (response-buffer-size in daemon mode).
from urllib.parse import parse_qs


def application(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    count = int(query.get("count", ["64"])[0])
    size = int(query.get("size", ["4096"])[0])
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(count * size))])
    return [bytes([65 + i % 26]) * size for i in range(count)]
