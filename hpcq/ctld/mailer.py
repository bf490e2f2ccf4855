"""Sender: mails and webhook posts of hpcq/ctld/notify.py, sent on one thread of their own.

The controller's loop only queues (put_nowait, bounded: beyond QUEUE_LIMIT a notice is
dropped and counted in the log); the thread runs the mail program or makes the POST,
each with a timeout. A failure is logged, once per failure, and that notice is dropped:
nothing of the job depends on it.

Mail goes to a sendmail-compatible program (sendmail, postfix's, exim's, msmtp's):
``PROGRAM -oi ADDRESS...`` with the headers and body on its standard input, as OpenPBS's
server does. [ctld] mail_program names it; empty: ``sendmail`` on ctld's PATH, else
/usr/sbin/sendmail or /usr/lib/sendmail.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import subprocess
import threading
import urllib.request
from dataclasses import dataclass

log = logging.getLogger("hpcq.ctld.notify")

QUEUE_LIMIT = 10_000
MAIL_TIMEOUT = 30.0
POST_TIMEOUT = 10.0
_SENDMAIL_PLACES = ("/usr/sbin/sendmail", "/usr/lib/sendmail")


@dataclass(frozen=True)
class Mail:
    job_id: int
    to: tuple[str, ...]
    subject: str
    body: str

    def message(self) -> bytes:
        return (f"To: {', '.join(self.to)}\nSubject: {self.subject}\n\n{self.body}").encode()


@dataclass(frozen=True)
class Post:
    job_id: int
    body: dict[str, object]


def find_mail_program(configured: str) -> str:
    """The program to mail with: `configured` as given, else sendmail where it usually is;
    "" when there is none."""
    if configured:
        return configured
    found = shutil.which("sendmail")
    if found:
        return found
    return next((p for p in _SENDMAIL_PLACES if os.access(p, os.X_OK)), "")


class Sender:
    def __init__(self, mail_program: str, url: str) -> None:
        self.mail_program = find_mail_program(mail_program)
        self.url = url
        self._queue: queue.Queue[Mail | Post | None] = queue.Queue(QUEUE_LIMIT)
        self._thread: threading.Thread | None = None
        self._dropped = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="hpcq-notify", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=MAIL_TIMEOUT)
            self._thread = None

    def submit(self, notice: Mail | Post) -> None:
        try:
            self._queue.put_nowait(notice)
        except queue.Full:
            self._dropped += 1
            if self._dropped in (1, 10, 100) or self._dropped % 1000 == 0:
                log.warning("notifications: %d dropped so far, the sender is %d behind", self._dropped,
                            QUEUE_LIMIT)

    def _run(self) -> None:
        while (notice := self._queue.get()) is not None:
            try:
                if isinstance(notice, Mail):
                    self.mail(notice)
                else:
                    self.post(notice)
            except Exception as e:  # noqa: BLE001 - one notice fails; the sender goes on
                log.warning("job %d: %s not sent: %s", notice.job_id,
                            "mail" if isinstance(notice, Mail) else f"POST to {self.url}", e)

    def mail(self, mail: Mail) -> None:
        done = subprocess.run([self.mail_program, "-oi", *mail.to], input=mail.message(), capture_output=True,
                              timeout=MAIL_TIMEOUT, check=False)
        if done.returncode != 0:
            said = done.stderr.decode(errors="replace").strip()[:200]
            raise RuntimeError(f"{self.mail_program} exited {done.returncode}{': ' + said if said else ''}")

    def post(self, post: Post) -> None:
        request = urllib.request.Request(self.url, data=json.dumps(post.body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=POST_TIMEOUT) as reply:
            reply.read()
