"""
channels' worker loops, stopped only between messages.

On SIGTERM or SIGINT, channels 1.1.8's Worker exits from inside the signal
handler unless a consumer is running, which includes the moment after it
took a message off Redis and before that message's consumer starts: the
message is lost, and @enforce_ordering then parks every later frame of its
socket for good. Its threaded WorkerGroup exits at once, consumers and all.
Here a signal only asks the loops to stop: each finishes the message in
hand, or waits out its blocking receive (the layer's blpop_timeout), then
the process exits. A second signal exits at once.
"""
import logging
import sys

from channels import worker

log = logging.getLogger(__name__)


def ask_to_stop(workers):
    """Set every loop's stop flag; exit at once if it was set already."""
    if workers[0].termed:
        log.warning("Second shutdown signal: exiting now, whatever is in hand")
        sys.exit(1)
    if any(loop.in_job for loop in workers):
        log.info("Shutdown signal received while busy: exiting once the message in hand is done")
    else:
        log.info("Shutdown signal received while idle: exiting once the wait for a message ends")
    for loop in workers:
        loop.termed = True


class Worker(worker.Worker):
    def sigterm_handler(self, signo, stack_frame):
        ask_to_stop([self])


class WorkerGroup(worker.WorkerGroup):
    """`runworker --threads N`: the signal stops every thread's loop, and
    the process waits for them instead of killing their consumers."""

    def sigterm_handler(self, signo, stack_frame):
        ask_to_stop([self] + self.workers)

    def run(self):
        for loop in self.workers:
            loop.termed = self.termed  # run() again after an outage
        try:
            super().run()
        finally:
            for loop in self.workers:
                loop.termed = True
            for thread in self.threads:
                thread.join()
