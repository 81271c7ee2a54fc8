# The main suite (`pytest`, testpaths = tests) must not collect the upstream
# suites: tests/upstream/run.py runs them, each in its own pytest process with
# its own settings (`make upstream-tests`).
collect_ignore_glob = ["*"]
