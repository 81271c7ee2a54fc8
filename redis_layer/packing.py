"""
One message for many process-channel members, packed once.

asgi_redis packs a message for a process channel ("daphne.response.x!")
with one more map entry, __asgi_channel__, naming its member. msgpack here
is pure Python (requirements.txt), so packing the whole message afresh for
each member would make a broadcast's CPU grow with the room times the
message: here it is packed once, and each copy only adds its member's name.
"""
import msgpack


class _ProcessChannelPacker:
    """Each member's copy is the packed message with __asgi_channel__ in
    front (what asgi_redis's serialize gives, in another key order)."""

    def __init__(self, message):
        packed = msgpack.packb(message, use_bin_type=True)
        header = len(_map_header(len(message)))
        self.header = _map_header(len(message) + 1) + msgpack.packb("__asgi_channel__", use_bin_type=True)
        self.body = packed[header:]

    def __call__(self, channel):
        return self.header + _packed_str(channel) + self.body


def _packed_str(text):
    """msgpack's str (the spec's fixstr, str 8, 16, 32), without a Packer."""
    data = text.encode("utf8")
    size = len(data)
    if size < 32:
        return bytes([0xa0 | size]) + data
    if size < 0x100:
        return b"\xd9" + bytes([size]) + data
    if size < 0x10000:
        return b"\xda" + size.to_bytes(2, "big") + data
    return b"\xdb" + size.to_bytes(4, "big") + data


def _map_header(size):
    return msgpack.Packer(use_bin_type=True).pack_map_header(size)
