"""Writing a benchmark's report where --output says, whole or not at all."""
import os


def write_report(path, text):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)
    print("written to %s" % os.path.relpath(path, os.getcwd()))
