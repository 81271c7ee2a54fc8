"""Loopback source addresses, one per person: the per-address budgets then apply per person,
as in production behind a proxy that passes each person's address."""


def address(number):
    """The number-th loopback source address: 127.10.0.1, ..., 127.10.0.254, 127.10.1.1, ..."""
    high, low = divmod(number, 254)
    return "127.%d.%d.%d" % (10 + high // 256, high % 256, low + 1)
