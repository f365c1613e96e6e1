"""Outgoing e-mail: one `Mailer` for every message we send (verification links, invitations,
log-in notices). By default messages go to an outbox folder in the data folder (one `.eml` file
each), so a fresh install needs no mail server; SMTP by configuration.

Our mails never ask for personal information: `ot.mailer.check_no_request_for_personal_data`
refuses a text that does, and every message goes through it.

Text that customers control (a team's name in an invitation) goes into a mail only through
`quoted`: between quotation marks, on one line, capped, and with anything a mail program could
turn into a link defanged (`shop[.]example`, `https[:]//`). Our mails are plain text only, so
there is no HTML part in which such text could become a link.
"""

from __future__ import annotations

import re
import smtplib
import ssl
import time
import unicodedata
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from ot.config import MailSettings

OUTBOX_DIR = "outbox"

# Phrases that would ask the reader to send us personal data by mail. Our texts are ours, so
# this is a guard against a careless edit, not a filter of user input.
_ASKS_FOR_PERSONAL_DATA = re.compile(
    r"\b(reply|respond|send|e-?mail)\b[^.]{0,60}\b(password|card|address|phone|passport|"
    r"date of birth|social security|iban|account number)\b",
    re.IGNORECASE,
)


# At most this many characters of a customer's text appear in a mail.
QUOTED_MAX_LENGTH = 60
OPENING_QUOTE, CLOSING_QUOTE = "\u201c", "\u201d"
# Quotation marks inside a customer's text would let it seem to end early and speak for us.
_QUOTATION_MARKS = str.maketrans(dict.fromkeys('"\u201c\u201d\u201e\u201f\u00ab\u00bb', "'"))
# What mail programs turn into links: a scheme ("https://", "mailto:"), a host name ("www.x.io",
# "bank.example"), an IPv4 address. Dots of other scripts are read as dots in host names.
_SCHEME = re.compile(
    r"(?i)\b([a-z][a-z0-9+.-]*:)(?=/)|\b(mailto:|tel:|sms:|sip:|callto:|skype:|xmpp:|data:)"
)
_HOST = re.compile(r"(?:[^\W_](?:[\w-]*[^\W_])?[.\u3002\uff61])+[^\W\d_]{2,}\b")
_IPV4 = re.compile(r"\b\d{1,3}(?:[.\u3002\uff61]\d{1,3}){3}\b")
_DOT = re.compile(r"[.\u3002\uff61]")
# Our own quotations, left out when our words are checked (they are not ours).
_QUOTATION = re.compile(f"{OPENING_QUOTE}[^{OPENING_QUOTE}{CLOSING_QUOTE}]*{CLOSING_QUOTE}")


def quoted(text: str, limit: int = QUOTED_MAX_LENGTH) -> str:
    """A customer's text, safe to put in a mail we send: in quotation marks, on one line, at
    most `limit` characters (cut with "..."), without control or invisible formatting characters
    (line breaks, bidirectional overrides, zero-width spaces), and with nothing a mail program
    would make a link of."""
    text = unicodedata.normalize("NFKC", text)  # full-width letters and dots read as plain ones
    kept = []
    for character in text:
        category = unicodedata.category(character)
        if category == "Cf":
            continue  # invisible: could hide or reorder what the reader sees
        kept.append(" " if category in ("Cc", "Zl", "Zp", "Zs") else character)
    text = " ".join("".join(kept).split()).translate(_QUOTATION_MARKS)
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "\u2026"
    text = _SCHEME.sub(lambda match: match.group(0)[:-1] + "[:]", text)
    for pattern in (_HOST, _IPV4):
        text = pattern.sub(lambda match: _DOT.sub("[.]", match.group(0)), text)
    return f"{OPENING_QUOTE}{text}{CLOSING_QUOTE}"


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str


def check_no_request_for_personal_data(mail: Mail) -> None:
    """Our promise: we never ask for personal information by e-mail. Customers' text that we
    quote is not ours and is not checked (it would otherwise stop the mail from going out)."""
    for part in (mail.subject, mail.text):
        if _ASKS_FOR_PERSONAL_DATA.search(_QUOTATION.sub(OPENING_QUOTE + CLOSING_QUOTE, part)):
            raise ValueError("an outgoing mail must not ask for personal information")


class Mailer:
    """Sends mails through the configured backend: `outbox` (files) or `smtp`."""

    def __init__(self, settings: MailSettings, data_dir: Path) -> None:
        self._settings = settings
        self._outbox = data_dir / OUTBOX_DIR

    def _message(self, mail: Mail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._settings.sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain="opentracker.invalid")
        message.set_content(mail.text)
        return message

    def send(self, mail: Mail) -> None:
        check_no_request_for_personal_data(mail)
        message = self._message(mail)
        if self._settings.backend == "smtp":
            self._send_smtp(message)
        else:
            self._write_outbox(message)

    def _write_outbox(self, message: EmailMessage) -> None:
        self._outbox.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
        path = self._outbox / name
        path.write_bytes(bytes(message))
        path.chmod(0o600)

    def _send_smtp(self, message: EmailMessage) -> None:
        settings = self._settings
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password)
            smtp.send_message(message)


def outbox(data_dir: Path) -> list[EmailMessage]:
    """The mails written to the outbox, oldest first (for tests and `ot-admin`)."""
    from email import message_from_bytes, policy

    folder = data_dir / OUTBOX_DIR
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.eml")):
        parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        found.append(parsed)
    return found
