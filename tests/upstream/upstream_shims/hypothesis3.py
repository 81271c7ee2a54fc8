"""
daphne 1.4.2's tests (daphne/tests/http_strategies.py, test_ws.py) were
written for Hypothesis 3.x; the project pins Hypothesis 6 (its own property
tests), and one venv holds one Hypothesis. Two 3.x arguments are gone:

- `average_size=` on strategies.text/binary/lists: a size hint that later
  3.x releases deprecated and ignored ("average_size was a no-op, is
  removed": 4.0.0's notes). Dropped here, so the strategies draw as those
  releases did.
- `settings(perform_health_check=False)`: removed in 4.0; its replacement is
  `suppress_health_check=list(HealthCheck)`, which is what it is turned into.
"""
import functools

import hypothesis
from hypothesis import strategies


def _without_average_size(strategy):
    @functools.wraps(strategy)
    def wrapper(*args, **kwargs):
        kwargs.pop("average_size", None)
        return strategy(*args, **kwargs)
    return wrapper


for _name in ("text", "binary", "lists"):
    setattr(strategies, _name, _without_average_size(getattr(strategies, _name)))

_settings_init = hypothesis.settings.__init__


def _settings_init_3x(self, *args, **kwargs):
    if kwargs.pop("perform_health_check", True) is False:
        kwargs.setdefault("suppress_health_check", list(hypothesis.HealthCheck))
    _settings_init(self, *args, **kwargs)


hypothesis.settings.__init__ = _settings_init_3x
