"""
The background channel: work that no socket waits for and that needs no
socket's order, off the path of the frame or the save that caused it.

Each job names its kind (`job`), and chat/routing.py routes each kind to
its consumer. A worker pool of its own may serve the channel
(`runworker --only-channels=chat.background`, README "Worker pools").
"""
from channels import Channel

BACKGROUND_CHANNEL = "chat.background"


def queue(job, **content):
    """Put a job of kind `job` on the background channel."""
    Channel(BACKGROUND_CHANNEL).send(dict(content, job=job), immediately=True)
