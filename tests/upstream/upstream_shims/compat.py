"""
The project's own compatibility module first, as in every entry point of the
service (manage.py, asgi.py): on Python 3.12 and 3.13 it provides what Django
2.2 and channels 1.1.8 import and the newer Python dropped (django.utils.six
through a current six, cgi through legacy-cgi, ...). Loaded as the first
plugin, before pytest-django or any test module imports Django. Without
proj/compat.py (Python 3.11 before it exists) there is nothing to load.
"""
import importlib.util

if importlib.util.find_spec("proj") is not None and importlib.util.find_spec("proj.compat") is not None:
    import proj.compat  # noqa: F401
