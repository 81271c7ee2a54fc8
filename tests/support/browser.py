"""
Debian's Chromium, headless, driven by Playwright for Python (never a
browser download: `executable_path` names the system's). The flags keep it
off the network: this is a test of pages on 127.0.0.1.
"""
import contextlib
import os
import shutil

from tests.support.processes import REPO_ROOT, MissingProgram

CHROMIUM_FLAGS = [
    "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


def chromium_path():
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise MissingProgram("chromium is not installed (Debian: apt-get install chromium); `make test` installs it.")
    return path


@contextlib.contextmanager
def chromium():
    """A headless Chromium; closed on exit, also when the test fails."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True,
            # Chromium's sandbox refuses to run as root.
            chromium_sandbox=os.geteuid() != 0, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


class ConsoleErrors(list):
    """Collects a page's JavaScript errors and console errors."""

    def __init__(self, page):
        super().__init__()
        page.on("pageerror", lambda error: self.append("pageerror: %s" % error))
        page.on("console", lambda message: message.type == "error" and self.append("console: %s" % message.text))


AXE_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vendor", "axe-core", "axe.min.js")
SCREENSHOTS = os.path.join(REPO_ROOT, "tests", "screenshots")


def accessibility_problems(page, impacts=("serious", "critical")):
    """axe-core's WCAG 2.1 A/AA and best-practice violations of these impacts
    on the page as it is now: [(rule, help, [selectors])]."""
    # Evaluated through the DevTools protocol, not added as a <script>: the
    # pages' Content-Security-Policy refuses inline scripts, rightly.
    with open(AXE_SCRIPT, encoding="utf-8") as source:
        page.evaluate("() => { %s\n}" % source.read())
    violations = page.evaluate("""async () => (await axe.run(document, {
        runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"],
    })).violations.map(v => [v.id, v.impact, v.help, v.nodes.map(n => n.target.join(" "))])""")
    return [(rule, help_text, nodes) for rule, impact, help_text, nodes in violations if impact in impacts]


def screenshot(page, name):
    """Saves the page under tests/screenshots/ (git-ignored) for a reviewer to look at."""
    os.makedirs(SCREENSHOTS, exist_ok=True)
    path = os.path.join(SCREENSHOTS, name + ".png")
    page.screenshot(path=path)
    return path
