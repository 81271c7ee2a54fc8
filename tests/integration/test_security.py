"""
Security probes against a real Daphne and real workers, as an attacker
would send them (docs/security.md names the advisory behind each): an
anonymous multipart body to a routed POST, the admin changelist's
SQL-shaping parameters from a signed-in staff user, and the headers every
page carries.
"""
import pytest

from .actors import Browser, shell, signed_up
from .conftest import unique_label

# What this module tests does not depend on the database (conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.one_database]

BOUNDARY = "probe"


def multipart(parts):
    lines = []
    for number in range(parts):
        lines += ["--" + BOUNDARY, 'Content-Disposition: form-data; name="f%d"' % number, "", "x"]
    return ("\r\n".join(lines + ["--" + BOUNDARY + "--", ""])).encode()


def test_an_anonymous_multipart_body_is_refused_before_it_is_parsed(http):
    # The attacker's own csrftoken cookie: without the guard the CSRF
    # middleware parses all 2,000 parts, then answers 403.
    response = http("POST", "/accounts/login/", data=multipart(2000), headers={
        "Content-Type": "multipart/form-data; boundary=" + BOUNDARY,
        "Cookie": "csrftoken=" + "a" * 64})
    assert response.status == 415, response
    assert http("GET", "/healthz").status == 200  # the worker lives on


def test_the_admin_changelist_refuses_parameters_that_shape_sql(stack, http_get):
    browser, name = signed_up(stack)
    shell(stack, "from django.contrib.auth.models import User; "
                 "User.objects.filter(username=%r).update(is_staff=True, is_superuser=True)" % name)
    label = unique_label("kept")
    assert http_get("/%s/" % label).status == 200  # the room exists
    for query in ("?_connector=OR", "?_negated=True", "?q=x&_connector=x"):
        status, _, page = browser.request("/admin/chat/room/" + query)
        assert status == 400, (query, status, page[:300])
    # A client-chosen root path (Daphne-Root-Path) moves the admin under it.
    status, _, page = browser.request("/x/admin/chat/room/?_connector=OR", headers={"Daphne-Root-Path": "/x"})
    assert status in (400, 404), (status, page[:300])
    status, _, page = browser.request("/admin/chat/room/?q=" + label)
    assert status == 200 and label in page
    assert shell(stack, "from chat.models import Room; print(Room.objects.filter(label=%r).count())" % label) == "1"


def test_pages_carry_a_content_security_policy_a_referrer_policy_and_nosniff(http_get):
    for path in ("/", "/accounts/login/", "/%s/" % unique_label("headers")):
        response = http_get(path)
        assert response.status == 200, (path, response)
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy, policy
        assert "'unsafe-inline'" not in policy, policy
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_browser_session_never_posts_multipart(stack):
    # The sign-up and sign-in forms are urlencoded: the guard costs users nothing.
    browser = Browser(stack)
    status, _, page = browser.request("/accounts/signup/")
    assert status == 200 and 'enctype="multipart' not in page


def test_control_characters_in_a_path_are_escaped_in_the_workers_log(stack, http_get):
    marker = unique_label("forged")
    before = [len(worker.log_text()) for worker in stack.workers]
    assert http_get("/nothing%0A" + marker + "%20ERROR%1B[2J/").status == 404
    written = "".join(worker.log_text()[start:] for worker, start in zip(stack.workers, before))
    assert "Not Found: /nothing\\x0a%s ERROR\\x1b[2J/" % marker in written, written[-2000:]
    assert not any(line.startswith(marker) for line in written.splitlines())
