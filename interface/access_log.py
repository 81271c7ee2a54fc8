"""
Daphne's access log (--access-log) with the control characters a client
put in a path escaped (proj/log_format.py says why). Daphne writes that log
straight to a stream, not through logging, so the stream escapes.
"""
from proj.log_format import escape_controls


def escape_access_log(factory):
    """Daphne writes its access log (--access-log) straight to a stream, not
    through logging: escape the control characters a client put in a path
    there too (proj/log_format.py), keeping each line's own newline."""
    logger = getattr(factory, "action_logger", None)
    stream = getattr(logger, "stream", None)
    if stream is not None:
        logger.stream = EscapingStream(stream)


class EscapingStream:
    def __init__(self, stream):
        self.stream = stream

    def write(self, text):
        line, newline = (text[:-1], "\n") if text.endswith("\n") else (text, "")
        return self.stream.write(escape_controls(line) + newline)

    def __getattr__(self, name):
        return getattr(self.stream, name)
