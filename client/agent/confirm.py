"""The person at the agent's terminal: the PIN, and a yes or no for each use of a key.

Lines are read from standard input by one thread into a queue, so that a prompt can wait
with a timeout and a line typed while nothing was asked is dropped rather than taken as
the answer to the next question. One prompt at a time: a second request waits its turn
for as long as its own timeout allows, then is refused as busy.
"""

from __future__ import annotations

import getpass
import queue
import sys
import threading
import time
from typing import TextIO

from client.agent.errors import Busy, ConfirmTimeout, Refused

YES = {"y", "yes", "是", "允许"}


def read_pin(stdin: TextIO | None = None) -> str:
    """The token's PIN, typed here: hidden on a terminal, the first line otherwise."""
    stdin = stdin or sys.stdin
    if stdin.isatty():
        return getpass.getpass("USB key PIN 码 / PIN: ")
    print("USB key PIN 码 / PIN (read from standard input)", flush=True)  # noqa: T201
    return stdin.readline().rstrip("\r\n")


class Terminal:
    def __init__(self, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._turn = threading.Lock()
        threading.Thread(target=self._read, name="agent-stdin", daemon=True).start()

    def _read(self) -> None:
        for line in self.stdin:
            self._lines.put(line.strip())
        self._lines.put(None)  # end of input: every later question is answered no

    def say(self, text: str) -> None:
        print(text, file=self.stdout, flush=True)

    def confirm(self, lines: list[str], timeout: float) -> None:
        """Ask; return when the person says yes, raise Refused, ConfirmTimeout or Busy."""
        deadline = time.monotonic() + timeout
        if not self._turn.acquire(timeout=timeout):
            raise Busy()
        try:
            while True:  # drop what was typed before the question
                try:
                    if self._lines.get_nowait() is None:
                        self._lines.put(None)
                        break
                except queue.Empty:
                    break
            left = max(deadline - time.monotonic(), 0.1)
            self.say("\n".join([*lines, f"允许吗? Allow? [y/N] ({left:.0f} s)"]))
            try:
                answer = self._lines.get(timeout=left)
            except queue.Empty:
                self.say("超时, 已拒绝 / timed out, refused")
                raise ConfirmTimeout({"timeout_s": timeout}) from None
            if answer is None:
                self._lines.put(None)
            if answer is None or answer.lower() not in YES:
                self.say("已拒绝 / refused")
                raise Refused()
            self.say("已允许 / allowed")
        finally:
            self._turn.release()
