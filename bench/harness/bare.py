"""
The bare asyncio `websockets` broadcast server: Python's ceiling on this
machine. The chat's wire protocol without Django, Redis or a database: a
frame is checked (JSON, handle, message), numbered, and sent to every socket
of its room with websockets.broadcast; ?after= replays the room's last 100
from memory.

    python -m bench.harness.bare --port 8765
"""
import argparse
import asyncio
import datetime
import json
import re
import sys

PATH = re.compile(r"^/chat/([-\w]{1,50})/(?:\?(.*))?$")
HISTORY = 100


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    from bench.harness import deps
    deps.ensure()
    asyncio.run(serve(args.port))


async def serve(port):
    import websockets
    from websockets.asyncio.server import broadcast, serve as ws_serve

    rooms, history, counter = {}, {}, [0]

    async def handler(socket):
        match = PATH.match(socket.request.path)
        if match is None:
            await socket.close(1008)
            return
        label, query = match.group(1), match.group(2) or ""
        members = rooms.setdefault(label, set())
        members.add(socket)
        try:
            after = dict(part.split("=", 1) for part in query.split("&") if "=" in part).get("after")
            if after is not None and after.isdigit():
                for frame in history.get(label, []):
                    if frame[0] > int(after):
                        await socket.send(frame[1])
            async for text in socket:
                try:
                    data = json.loads(text)
                    handle, message = data["handle"].strip(), data["message"].strip()
                    if not handle or not message or len(message) > 2000:
                        raise ValueError
                except (ValueError, KeyError, TypeError, AttributeError):
                    await socket.send(json.dumps({"type": "error", "code": "invalid_message", "detail": "bad frame"}))
                    continue
                counter[0] += 1
                kept = history.setdefault(label, [])
                frame = {"type": "message", "id": counter[0], "previous_id": kept[-1][0] if kept else None,
                         "room": label, "handle": handle, "user": False, "message": message,
                         "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat()}
                if data.get("client_id"):
                    frame["client_id"] = data["client_id"]
                encoded = json.dumps(frame)
                kept.append((counter[0], encoded))
                del kept[:-HISTORY]
                broadcast(members, encoded)
        except websockets.ConnectionClosed:
            pass
        finally:
            members.discard(socket)

    async with ws_serve(handler, "127.0.0.1", port, ping_interval=20, ping_timeout=30, max_queue=None):
        print("bare server listening on %d" % port, flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    sys.exit(main())
