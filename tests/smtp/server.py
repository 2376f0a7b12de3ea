#!/usr/bin/env python3
"""A real SMTP server for the gateway's tests (tests/src/smtp.rs starts it).

Every accepted message is delivered into a Maildir, one file per (message, recipient),
with `X-Envelope-To: ADDRESS` prepended: the test reads the envelope recipient
there, since the To: header need not name it. With --journal, each (message, recipient)
accepted is also one line appended to that file: `<ns since the epoch>\t<recipient>\t
<Message-ID or ->\t<bytes>`, written when the server answers 250 to DATA; with
--journal-only the Maildir is not written at all (a load run of 18,000 mails counts and
times them, and finds repeats, without 18,000 files). RCPT TO a refused address is answered
`550 5.1.1 <address>: mailbox unavailable`, so a test sees a permanent failure.

aiosmtpd 1.4.6 does not advertise PIPELINING (its EHLO lists SIZE, 8BITMIME and HELP),
so neither does this server. It does answer commands sent in one burst in order, but a
client must not pipeline unless told it may; lettre never pipelines.
"""

import argparse
import asyncio
import mailbox
import re
import signal
import sys
import time

from aiosmtpd.smtp import SMTP


# The first Message-ID header of a message's header block.
MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(\S[^\r\n]*)", re.IGNORECASE | re.MULTILINE)


class Handler:
    def __init__(self, maildir, refused, refuse_file, journal):
        self.maildir = maildir
        self.refused = {a.lower() for a in refused}
        self.refuse_file = refuse_file
        self.journal = journal

    def is_refused(self, address):
        refused = set(self.refused)
        # Re-read on every RCPT, so that a test can change the list while the server runs.
        if self.refuse_file:
            try:
                with open(self.refuse_file, encoding="utf-8") as f:
                    refused |= {line.strip().lower() for line in f if line.strip()}
            except FileNotFoundError:
                pass
        return address.lower() in refused

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.is_refused(address):
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        content = envelope.content
        # Maildir.add writes into tmp/ and renames into new/: a reader never sees half a file.
        if self.maildir is not None:
            for rcpt in envelope.rcpt_tos:
                self.maildir.add(f"X-Envelope-To: {rcpt}\r\n".encode() + content)
        if self.journal is not None:
            head = content.split(b"\r\n\r\n", 1)[0]
            found = MESSAGE_ID.search(head)
            message_id = found.group(1).decode("utf-8", "replace").strip() if found else "-"
            at = time.time_ns()
            # Whole lines in one write, flushed before the 250: a reader that finds a line
            # knows the server has accepted it (a reader skips a last line without its \n).
            self.journal.write(
                "".join(f"{at}\t{rcpt}\t{message_id}\t{len(content)}\n" for rcpt in envelope.rcpt_tos)
            )
            self.journal.flush()
        return "250 OK: message accepted"


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0: the OS chooses")
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--refuse", action="append", default=[], metavar="ADDR")
    parser.add_argument("--refuse-file", metavar="PATH", help="one address a line, read live")
    parser.add_argument("--journal", metavar="PATH", help="one line per accepted recipient")
    parser.add_argument(
        "--journal-only", action="store_true", help="write the journal, not the Maildir"
    )
    args = parser.parse_args()
    if args.journal_only and not args.journal:
        parser.error("--journal-only needs --journal")

    maildir = None if args.journal_only else mailbox.Maildir(args.maildir, create=True)
    # Appended to, so that a restarted server adds to what it accepted before.
    journal = open(args.journal, "a", encoding="utf-8") if args.journal else None
    handler = Handler(maildir, args.refuse, args.refuse_file, journal)
    loop = asyncio.get_running_loop()
    # A plain loop rather than aiosmtpd's Controller: no thread, no self-test connection,
    # and the bound port is known from the socket when --port is 0.
    try:
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="smtp.test"), host="127.0.0.1", port=args.port
        )
    except OSError as e:
        # The harness retries on this (a restart on the same port may find it still taken).
        print(f"cannot listen on 127.0.0.1:{args.port}: {e}", file=sys.stderr, flush=True)
        sys.exit(3)
    port = server.sockets[0].getsockname()[1]
    # The one line the harness waits for: from here connections are accepted.
    print(f"listening on 127.0.0.1:{port}", flush=True)

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
