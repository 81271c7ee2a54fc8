"""The harness's own packages, kept out of the project's venv: bench/requirements.txt
installed with `pip install --target bench/.deps/py<version>` and put at the end of
sys.path (the venv's own packages win on any overlap)."""
import os
import subprocess
import sys

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# One folder per Python version: compiled wheels (numpy, websockets) fit one version only.
DEPS = os.path.join(BENCH, ".deps", "py%d%d" % sys.version_info[:2])
REQUIREMENTS = os.path.join(BENCH, "requirements.txt")
STAMP = os.path.join(DEPS, ".requirements")


def ensure():
    """Install bench/requirements.txt into bench/.deps when it changed, and import from there."""
    with open(REQUIREMENTS) as handle:
        wanted = handle.read()
    try:
        with open(STAMP) as handle:
            installed = handle.read()
    except OSError:
        installed = None
    if installed != wanted:
        print("bench: installing bench/requirements.txt into bench/.deps", flush=True)
        done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--upgrade", "--target", DEPS,
                               "-r", REQUIREMENTS], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit("pip could not install bench/requirements.txt:\n" + done.stdout + done.stderr)
        with open(STAMP, "w") as handle:
            handle.write(wanted)
    if DEPS not in sys.path:
        sys.path.append(DEPS)
