#!/usr/bin/env python3
"""A real SMTP server for the gateway's tests (tests/src/smtp.rs starts it).

Every accepted message is delivered into a Maildir, one file per (message, recipient),
with `X-Envelope-To: ADDRESS` prepended: the test reads the envelope recipient
there, since the To: header need not name it. RCPT TO a refused address is answered
`550 5.1.1 <address>: mailbox unavailable`, so a test sees a permanent failure.

aiosmtpd 1.4.6 does not advertise PIPELINING (its EHLO lists SIZE, 8BITMIME and HELP),
so neither does this server. It does answer commands sent in one burst in order, but a
client must not pipeline unless told it may; lettre never pipelines.
"""

import argparse
import asyncio
import mailbox
import signal
import sys

from aiosmtpd.smtp import SMTP


class Handler:
    def __init__(self, maildir, refused, refuse_file):
        self.maildir = maildir
        self.refused = {a.lower() for a in refused}
        self.refuse_file = refuse_file

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
        # Maildir.add writes into tmp/ and renames into new/: a reader never sees half a file.
        for rcpt in envelope.rcpt_tos:
            self.maildir.add(f"X-Envelope-To: {rcpt}\r\n".encode() + envelope.content)
        return "250 OK: message accepted"


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0: the OS chooses")
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--refuse", action="append", default=[], metavar="ADDR")
    parser.add_argument("--refuse-file", metavar="PATH", help="one address a line, read live")
    args = parser.parse_args()

    handler = Handler(mailbox.Maildir(args.maildir, create=True), args.refuse, args.refuse_file)
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
