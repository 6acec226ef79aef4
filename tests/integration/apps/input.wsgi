# Exercises wsgi.input the ways PEP 3333 allows. ?mode=...&n=...; the reply is JSON with
# what each call returned, so the test can compare with the body it sent.
#   read_n     read(n) until b""           read_all   read()
#   readline   readline(n) until b""       readlines  readlines(hint)
#   iter       for line in wsgi.input      sha        sha256 + length via read(65536)
#   echo       the body back as-is (read())
import hashlib
import json
import urllib.parse


def application(environ, start_response):
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    mode = query.get("mode", ["echo"])[0]
    n = int(query.get("n", ["7"])[0])
    stream = environ["wsgi.input"]
    if mode == "echo":
        body = stream.read()
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    pieces = []
    if mode == "read_n":
        while True:
            piece = stream.read(n)
            pieces.append(piece)
            if not piece:
                break
    elif mode == "read_all":
        pieces.append(stream.read())
        pieces.append(stream.read())       # at EOF: b""
    elif mode == "readline":
        while True:
            piece = stream.readline(n) if n >= 0 else stream.readline()
            pieces.append(piece)
            if not piece:
                break
    elif mode == "readlines":
        pieces = stream.readlines(n) if n >= 0 else stream.readlines()
        pieces.append(b"|rest|" + stream.read())
    elif mode == "iter":
        pieces = [line for line in stream]
    elif mode == "sha":
        digest = hashlib.sha256()
        total = 0
        while True:
            piece = stream.read(65536)
            if not piece:
                break
            if not isinstance(piece, bytes):
                raise TypeError("wsgi.input.read returned %r" % type(piece))
            digest.update(piece)
            total += len(piece)
        body = json.dumps({"sha256": digest.hexdigest(), "length": total,
                           "input_terminated": environ.get("wsgi.input_terminated"),
                           "CONTENT_LENGTH": environ.get("CONTENT_LENGTH")}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    types = sorted({type(p).__name__ for p in pieces})
    body = json.dumps({"pieces": [p.decode("latin-1") for p in pieces],
                       "types": types}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
