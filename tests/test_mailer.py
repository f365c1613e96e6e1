"""Outgoing mail (`ot.mailer`): written to the outbox by default, never asking for personal
information, and quoting customers' text so that it can neither pass for ours nor become a
link."""

from __future__ import annotations

from pathlib import Path

import pytest

from ot.config import MailSettings
from ot.mailer import QUOTED_MAX_LENGTH, Mail, Mailer, outbox, quoted


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


def test_customer_text_is_quoted_on_one_line_without_invisible_characters() -> None:
    text = "Acme\r\nB.V.\tand\u2028friends\u202e\u200b \x00"

    assert quoted(text) == "\u201cAcme B.V. and friends\u201d"


def test_customer_text_is_cut_to_a_few_words() -> None:
    shown = quoted("x" * 500)

    assert shown == "\u201c" + "x" * (QUOTED_MAX_LENGTH - 1) + "\u2026\u201d"
    assert quoted("y" * QUOTED_MAX_LENGTH) == "\u201c" + "y" * QUOTED_MAX_LENGTH + "\u201d"


def test_quotation_marks_in_customer_text_cannot_end_our_quotation() -> None:
    shown = quoted('Acme" is closing. \u201cSend the fee\u201d \u00abnow\u00bb')

    assert shown == "\u201cAcme' is closing. 'Send the fee' 'now'\u201d"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("https://evil.example/login", "https[:]//evil[.]example/login"),
        ("HTTP://EVIL.EXAMPLE", "HTTP[:]//EVIL[.]EXAMPLE"),
        ("log in at www.bank-login.co.uk", "log in at www[.]bank-login[.]co[.]uk"),
        ("pay.evil.example", "pay[.]evil[.]example"),
        ("mailto:boss@evil.example", "mailto[:]boss@evil[.]example"),
        ("tel:+31205550100", "tel[:]+31205550100"),
        ("call 203.0.113.7", "call 203[.]0[.]113[.]7"),
        (
            "\uff48\uff54\uff54\uff50\uff53://\uff45\uff56\uff49\uff4c\uff0e\uff43\uff4f",
            "https[:]//evil[.]co",
        ),
        ("evil\u3002example", "evil[.]example"),
        ("b\u00fccher.example", "b\u00fccher[.]example"),
        ("evil\u200b.example", "evil[.]example"),
        # Ordinary names stay as they are.
        ("Analytical Engines B.V.", "Analytical Engines B.V."),
        ("M\u00fcller & S\u00f6hne GmbH", "M\u00fcller & S\u00f6hne GmbH"),
        ("Studio: 2.0", "Studio: 2.0"),
    ],
)
def test_nothing_in_customer_text_can_become_a_link(text: str, shown: str) -> None:
    assert quoted(text) == f"\u201c{shown}\u201d"


def test_a_customers_own_words_in_a_quotation_do_not_stop_our_mail(tmp_path: Path) -> None:
    """Our check keeps our texts from asking for personal data; a team named "Reply with your
    password" is the customer's text, quoted, and must not stop the invitation."""
    mailer = Mailer(MailSettings(), tmp_path)
    name = quoted("Reply with your password")

    mailer.send(Mail(to="a@example.com", subject="Hi", text=f"The team {name} invites you."))

    [message] = outbox(tmp_path)
    assert "\u201cReply with your password\u201d" in message.get_content()
    with pytest.raises(ValueError, match="personal information"):
        mailer.send(
            Mail(to="a@example.com", subject="Hi", text=f"{name}: reply with your password")
        )
