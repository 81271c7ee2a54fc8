"""
Who the integration tests act as, besides anonymous sockets (conftest.py):
a Browser that keeps cookies and CSRF tokens, a user who just signed up,
and an operator running manage.py commands against a running stack.
"""
import http.cookiejar
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid

import websocket

from tests.support.processes import REPO_ROOT

from .conftest import _NoRedirects, chat_path, unique_label


class Browser:
    """Cookies and CSRF tokens, as a browser keeps them."""

    def __init__(self, stack):
        self.stack = stack
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirects)

    def request(self, path, data=None, method=None, headers=None):
        request = urllib.request.Request(self.stack.url(path), method=method, headers=headers or {},
                                         data=urllib.parse.urlencode(data).encode() if data is not None else None)
        try:
            with self.opener.open(request, timeout=20) as response:
                return response.status, response.headers, response.read().decode()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.headers, error.read().decode()

    def form(self, path, **fields):
        """GET the form for its CSRF token, then POST it."""
        status, _, page = self.request(path)
        assert status == 200, page
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        return self.request(path, dict(fields, csrfmiddlewaretoken=token))

    def cookie_header(self):
        return "Cookie: " + "; ".join("%s=%s" % (c.name, c.value) for c in self.cookies)

    def socket(self, label, query=""):
        url = self.stack.ws_url(chat_path(label) + query)
        return websocket.create_connection(url, timeout=10, header=[self.cookie_header()])


def signed_up(stack):
    """(a Browser signed in as a new user, the user's name), through the sign-up form."""
    browser = Browser(stack)
    name = "user_%s" % uuid.uuid4().hex[:8]
    password = "correct horse %s" % uuid.uuid4().hex
    status, headers, page = browser.form("/accounts/signup/?next=/", username=name,
                                         password1=password, password2=password)
    assert (status, headers.get("Location")) == (302, "/"), page
    browser.password = password
    return browser, name


def manage(stack, *args):
    """Run a manage.py command with the stack's settings; its output."""
    result = subprocess.run([sys.executable, "manage.py"] + list(args), cwd=REPO_ROOT, env=stack.env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def shell(stack, code):
    """Python run by `manage.py shell -c` (any process with the settings); its output, stripped."""
    return manage(stack, "shell", "-c", code).strip()


def room_with_access(stack, access):
    """A new room at an access level, made as an operator would."""
    label = unique_label(access)
    assert manage(stack, "setroomaccess", label, access).startswith("Created room %s" % label)
    return label
