"""
Test-side shims for the upstream suites, each a pytest plugin that
tests/upstream/run.py loads (`-p upstream_shims.<name>`) only for the suites
that need it. Each one names the upstream line it serves and why; the list
with reasons is in tests/upstream/README.md. Nothing here changes the
libraries under test: only their tests' surroundings.
"""
