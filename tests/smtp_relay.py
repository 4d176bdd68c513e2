"""A real SMTP relay for the notifications' tests: aiosmtpd, with STARTTLS required and then
AUTH (PLAIN or LOGIN) required for one user. It keeps each message in a Maildir and writes, in
`sessions.log` beside it, whether the session that sent it was under TLS and who logged in.

Usage: smtp_relay.py PORT CERT_PEM KEY_PEM USER PASSWORD MAILDIR
"""
import mailbox
import os
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

port, cert, key, user, password, maildir = sys.argv[1:7]


class Handler:
    def __init__(self):
        self.box = mailbox.Maildir(maildir)

    async def handle_DATA(self, server, session, envelope):
        self.box.add(mailbox.MaildirMessage(envelope.original_content))
        login = session.login_data.decode() if session.login_data else ""
        with open(os.path.join(maildir, "sessions.log"), "a", encoding="utf-8") as log:
            log.write(f"tls={session.ssl is not None} login={login}\n")
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == user.encode() and auth_data.password == password.encode()
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)
controller = Controller(
    Handler(),
    hostname="127.0.0.1",
    port=int(port),
    tls_context=context,
    require_starttls=True,
    authenticator=authenticator,
    auth_required=True,
    auth_require_tls=True,
)
controller.start()
print("listening", flush=True)
threading.Event().wait()
