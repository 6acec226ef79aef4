# Answers with the status PATH_INFO names (/404, /500, /201, ...), its own body and a header
# of its own, so a test can tell the application's error page from Apache's ErrorDocument.
# /404-stream sends the error body as a generator (flushed block by block).
def application(environ, start_response):
    what = environ.get("PATH_INFO", "/200").lstrip("/")
    code, _, variant = what.partition("-")
    reasons = {"200": "OK", "201": "Created", "302": "Found", "400": "Bad Request",
               "403": "Forbidden", "404": "Not Found", "500": "Internal Server Error",
               "503": "Service Unavailable"}
    body = f"application body for {code}\n".encode()
    headers = [("Content-Type", "text/plain"), ("X-App-Header", "from-app")]
    if code == "302":
        headers.append(("Location", "/elsewhere"))
    start_response(f"{code} {reasons.get(code, 'Status')}", headers)
    if variant == "stream":
        return (block for block in [body[:5], body[5:]])
    return [body]
