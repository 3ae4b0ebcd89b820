"""Issue 9, acceptance 1: on the public corpus, replies are read right and machine mail is recognised.

The figures come from ``measure``, the function ``pledgeflow bench`` reports as its "inbound" part.
"""

from __future__ import annotations

from pathlib import Path

from pledgeflow.inbound.corpus import measure
from pledgeflow.inbound.reading import read

CORPUS = Path(__file__).parent / "corpus"


def test_the_corpus_is_several_hundred_distinct_public_cases() -> None:
    figures = measure(CORPUS)
    assert figures.replies >= 200 and figures.machine >= 500
    for case in (CORPUS / "replies").glob("*/*"):
        if case.suffix != ".expected":
            assert case.with_suffix(".expected").exists(), case


def test_replies_are_read_right_and_machine_mail_recognised() -> None:
    figures = measure(CORPUS)
    assert figures.replies_taken_for_machine == 0, figures.misread
    assert figures.reply_share >= 0.80, figures.misread
    assert figures.machine_share >= 0.98, figures.misread


def test_a_case_that_is_misread_is_named(tmp_path: Path) -> None:
    """The measure can fail: a reply whose expected text is not what the sender wrote counts against it."""
    (tmp_path / "replies" / "made-up").mkdir(parents=True)
    (tmp_path / "machine" / "made-up").mkdir(parents=True)
    (tmp_path / "replies" / "made-up" / "one.txt").write_text(
        "Our report.\n\nOn Mon, 1 Mar 2027, A <a@b.org> wrote:\n> q\n"
    )
    (tmp_path / "replies" / "made-up" / "one.expected").write_text("Our report. And more.\n")
    (tmp_path / "machine" / "made-up" / "person.eml").write_bytes(b"From: a@b.org\r\nSubject: Hi\r\n\r\nHello\r\n")
    figures = measure(tmp_path)
    assert (figures.replies_read_right, figures.machine_recognised) == (0, 0)
    assert figures.misread == ["made-up/one.txt", "made-up/person.eml: not recognised as machine mail"]


def test_a_charset_python_does_not_know_is_read_not_crashed_on() -> None:
    raw = (
        b"From: Dana Levi <dana@example.org.il>\r\nSubject: Re: report\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: text/plain; charset="iso-8859-8-i"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'
    ) + "התקדמנו היטב השנה: חיברנו 40 בתי ספר.\r\n".encode("iso-8859-8")
    assert read(raw).own_text == "התקדמנו היטב השנה: חיברנו 40 בתי ספר."


def test_utf8_bytes_under_a_latin1_label_are_read_as_utf8() -> None:
    raw = (
        b"From: a@b.org\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\n"
        + "Zürich schools: 40 connected.".encode()
    )
    assert read(raw).own_text == "Zürich schools: 40 connected."


def test_a_multipart_nested_a_thousand_deep_is_kept_unread() -> None:
    depth = 1000
    head = b"From: a@b.org\r\nMIME-Version: 1.0\r\n"
    body = b"".join(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n'.encode() for i in range(depth))
    raw = (
        head
        + body
        + b"Content-Type: text/plain\r\n\r\nhello\r\n"
        + b"".join(f"--b{i}--\r\n".encode() for i in reversed(range(depth)))
    )
    reading = read(raw)
    assert reading.unreadable is not None and "nested" in reading.unreadable
