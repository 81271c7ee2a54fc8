"""
Log lines that a client cannot forge.

Django 2.2 logs the request path of every 4xx and 5xx ("Not Found: /%0A..."
arrives unquoted: a newline, a terminal escape), and Daphne writes paths
and forwarded addresses into its access log. A client who puts control
characters there can start fake log lines or drive an operator's terminal
(CVE-2025-48432). Every line the service writes has them escaped as \\xNN;
a traceback keeps its own newlines.
"""
import logging
import re

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def escape_controls(text):
    return CONTROL_CHARACTERS.sub(lambda found: "\\x%02x" % ord(found.group()), text)


class EscapingFormatter(logging.Formatter):
    """A Formatter whose message part has its control characters escaped."""

    def formatMessage(self, record):
        record.message = escape_controls(record.message)
        return super().formatMessage(record)
