"""Outgoing mail (`ot.mailer`): written to the outbox by default, and never asking for personal
information."""

from __future__ import annotations

from pathlib import Path

import pytest

from ot.config import MailSettings
from ot.mailer import Mail, Mailer, outbox


def test_mail_goes_to_the_outbox_by_default(tmp_path: Path) -> None:
    mailer = Mailer(MailSettings(), tmp_path)
    mailer.send(Mail(to="ana@example.com", subject="Verify", text="Open this link: https://x/1"))
    [message] = outbox(tmp_path)
    assert message["To"] == "ana@example.com" and message["Subject"] == "Verify"
    assert "https://x/1" in message.get_content()
    assert oct((tmp_path / "outbox").stat().st_mode & 0o777) == "0o700"


def test_we_never_ask_for_personal_information_by_email(tmp_path: Path) -> None:
    mailer = Mailer(MailSettings(), tmp_path)
    with pytest.raises(ValueError, match="personal information"):
        mailer.send(Mail(to="a@example.com", subject="Hi", text="Please reply with your password."))
    assert outbox(tmp_path) == []
