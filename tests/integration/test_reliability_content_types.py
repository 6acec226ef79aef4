"""Reliability checklist R24 (CVE-2014-0242's ground): a threaded embedded child (event MPM,
64 worker threads) answers many concurrent requests, each with a Content-Type built for
that request. Every response carries exactly the Content-Type, and the body, of its own
request - no header of one request's response taken from another's, freed or reused.

Scaled from the checklist's 10^6 requests to 64 clients x 250 keep-alive requests: the
Python client is the bottleneck here, and CI's time the limit. `scripts/sanitize.sh all`
runs it under ASan+UBSan (it is not in CI's sanitizer subset); there is no TSan build."""
import http.client
import threading

import pytest

import harness

CONFIG = """
WSGIScriptAlias / @APPS@/reliability.wsgi application-group=%{GLOBAL}
SetEnv GANTRY_STATE @STATE@
<IfModule mpm_event_module>
ServerLimit 1
ThreadLimit 64
ThreadsPerChild 64
MaxRequestWorkers 64
MinSpareThreads 1
MaxSpareThreads 64
</IfModule>
"""
CLIENTS = 64
REQUESTS = 250


apache = harness.server(CONFIG, only_mpm=("event", "the race needs threads sharing one child"))


@pytest.mark.embedded_only  # the threads of an Apache child
def test_each_response_has_its_own_content_type(apache):
    wrong, errors = [], []
    start = threading.Barrier(CLIENTS)

    def client(n):
        conn = apache.connection()
        try:
            start.wait(timeout=30)
            for i in range(REQUESTS):
                token = f"c{n}r{i}"
                try:
                    r = apache.get(f"/ctype?t={token}", conn=conn)
                except (http.client.RemoteDisconnected, ConnectionResetError):
                    # The event MPM closes idle keep-alive connections when its workers are
                    # all busy: as any HTTP client does, send the request again on a new one.
                    conn.close()
                    conn = apache.connection()
                    r = apache.get(f"/ctype?t={token}", conn=conn)
                expected = f"text/x-{token}; charset={token}-cs"
                if (r.status, r.header("Content-Type"), r.body) != (200, expected, token.encode()):
                    wrong.append((token, r.status, r.header("Content-Type"), r.body[:60]))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append((n, repr(e)))
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(harness.REQUEST_TIMEOUT * 3)
    assert not [t for t in threads if t.is_alive()], "clients still running"
    assert not errors, errors[:5]
    assert not wrong, wrong[:5]
