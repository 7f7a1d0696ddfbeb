"""What a file is, by its bytes (chat.files): the allow-list, names, images made safe."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from chat import files


def png(size: tuple[int, int] = (40, 30), *, exif: bool = False, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    image = Image.new(mode, size, "red" if mode == "RGB" else 0)
    if exif:
        data = Image.Exif()
        data[0x010F] = "SpyCam"  # Make
        data[0x8825] = {2: (48.0, 51.0, 24.0), 1: "N"}  # GPSInfo: a latitude
        image.save(out, "JPEG", exif=data)
    else:
        image.save(out, "PNG")
    return out.getvalue()


def test_a_png_is_accepted_re_encoded_with_its_size_and_a_thumbnail() -> None:
    checked = files.check("screenshot.png", png((1000, 500)))
    assert (checked.mime, checked.image, checked.width, checked.height) == (
        "image/png",
        True,
        1000,
        500,
    )
    assert checked.thumbnail is not None
    with Image.open(io.BytesIO(checked.thumbnail)) as thumb:
        assert max(thumb.size) == files.THUMB_SIDE


def test_a_photos_gps_position_and_camera_are_not_kept() -> None:
    original = png((64, 48), exif=True)
    with Image.open(io.BytesIO(original)) as before:
        assert before.getexif().get(0x8825)  # the test's photo does carry a position
    checked = files.check("holiday.jpg", original)
    for stored in (checked.content, checked.thumbnail):
        assert stored is not None
        with Image.open(io.BytesIO(stored)) as after:
            assert not after.getexif()
            assert "exif" not in after.info
        assert b"SpyCam" not in stored


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("empty.txt", b"", "empty_file"),
        ("invoice.png", b"MZ\x90\x00" + b"\x00" * 200, "file_type"),  # an .exe named .png
        ("tool.pdf", b"\x7fELF\x02\x01\x01" + b"\x00" * 100, "file_type"),
        ("photo.pdf", png(), "file_mismatch"),  # a PNG that says it is a PDF
        ("run.sh", b"#!/bin/sh\nrm -rf /\n", "file_type"),
        (
            "logo.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "file_type",
        ),
        ("page.txt", b"<html><script>alert(1)</script></html>", "file_type"),
        ("data.bin", bytes(range(256)), "file_type"),
        ("latin1.txt", "café crème".encode("latin-1"), "file_type"),
        ("broken.png", b"\x89PNG\r\n\x1a\n" + b"garbage" * 20, "file_broken"),
    ],
)
def test_what_is_refused_says_why(name: str, content: bytes, code: str) -> None:
    with pytest.raises(files.Refused) as refused:
        files.check(name, content)
    assert refused.value.code == code
    assert files.clean_name(name) in refused.value.message


def test_an_image_of_too_many_pixels_is_refused_before_it_is_decoded() -> None:
    out = io.BytesIO()
    Image.new("1", (8000, 8000)).save(out, "PNG")  # 64 million pixels in a few kilobytes
    with pytest.raises(files.Refused) as refused:
        files.check("bomb.png", out.getvalue())
    assert refused.value.code == "file_too_large"


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("C:\\Users\\me\\report.pdf", "report.pdf"),
        ("in\x00voice\r\n.pdf", "invoice.pdf"),
        ("exe.\u202egpj.pdf", "exe.gpj.pdf"),  # a right-to-left override is gone
        ("...hidden.txt", "hidden.txt"),
        ("  spaced   out  .txt", "spaced out .txt"),
    ],
)
def test_names_lose_paths_controls_and_leading_dots(given: str, stored: str) -> None:
    assert files.clean_name(given) == stored


def test_a_long_name_is_cut_and_keeps_its_extension() -> None:
    name = files.clean_name("a" * 500 + ".pdf")
    assert len(name) == files.NAME_LIMIT
    assert name.endswith("a.pdf")


def test_a_name_without_a_known_type_gets_the_contents() -> None:
    assert files.check("Screenshot 2026-12-05", png()).name == "Screenshot 2026-12-05.png"
    assert files.check("notes", b"hello\n").name == "notes.txt"


def test_pdf_office_and_text_are_kept_as_sent() -> None:
    pdf = b"%PDF-1.7\n" + b"1 0 obj\n" * 10
    assert files.check("invoice.pdf", pdf).content == pdf
    assert files.check("report.docx", b"PK\x03\x04" + b"\x00" * 50).mime.endswith(
        "wordprocessingml.document"
    )
    text = "Ünïcode ✓ lines\n".encode()
    checked = files.check("log.txt", text)
    assert (checked.mime, checked.content, checked.image) == ("text/plain", text, False)
