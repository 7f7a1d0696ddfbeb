"""What a file is, by its bytes: the allow-list of attachment types, safe names, and images made
safe to show.

A file's type is read from its first bytes (its "magic"), never taken from its name or from the
Content-Type the browser sent: an `.exe` renamed `invoice.png` is still a program, and is
refused. A name that claims another allowed type than the content is refused too ("photo.pdf"
that is a PNG), so what the agent downloads is what its name says.

Images are decoded and encoded again with Pillow before anything is stored: what is kept and
shown is pixels only (no EXIF, no GPS position, no embedded profile or comment), turned upright
as the camera meant, and at most `MAX_SIDE` pixels a side. A file Pillow cannot decode, or one
that would decode to more than `MAX_PIXELS` (a decompression bomb), is refused.
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass

from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_SIDE = 4096  # the stored image's longest side
THUMB_SIDE = 480  # the thumbnail's longest side (shown at most 240 CSS pixels wide, 2x screens)
MAX_PIXELS = 50_000_000  # decoded size beyond which an image is refused (a bomb)
NAME_LIMIT = 120  # characters of a stored file name (the extension kept)


class Refused(ValueError):
    """A file that is not accepted, with a reason a person can read and a code for clients."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Kind:
    """An accepted type: its MIME type, the extensions a name of it may have (the first is the
    one given to a name without any), and whether the desk shows it as an image."""

    mime: str
    extensions: tuple[str, ...]
    image: bool = False


PNG = Kind("image/png", ("png",), image=True)
JPEG = Kind("image/jpeg", ("jpg", "jpeg"), image=True)
GIF = Kind("image/gif", ("gif",), image=True)
WEBP = Kind("image/webp", ("webp",), image=True)
PDF = Kind("application/pdf", ("pdf",))
# Office files are zip archives; which one it is, only the name says.
ZIP = Kind("application/zip", ("zip", "docx", "xlsx", "pptx", "odt", "ods", "odp"))
TEXT = Kind("text/plain", ("txt", "log", "csv", "md", "json"))
KINDS = (PNG, JPEG, GIF, WEBP, PDF, ZIP, TEXT)

OFFICE_MIME = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "odp": "application/vnd.oasis.opendocument.presentation",
    "csv": "text/csv",
    "json": "application/json",
}

# Programs and scripts, named in the refusal so the person knows why.
PROGRAM_MAGIC = (b"MZ", b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe", b"#!")


def sniff(head: bytes) -> Kind | None:
    """The accepted kind these first bytes (at least 512 of them, or the whole file) are, or
    None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"PK\x03\x04"):
        return ZIP
    if _is_text(head):
        return TEXT
    return None


def _is_text(head: bytes) -> bool:
    """UTF-8 text with no control characters but tab, line breaks and form feed (a cut
    multi-byte character at the end of `head` is allowed), and not markup a browser would run."""
    if not head or b"\x00" in head:
        return False
    text = head.decode("utf-8", errors="ignore")
    if len(text.encode()) < len(head) - 3:  # more than a character cut at the end: not UTF-8
        return False
    if any(unicodedata.category(c) == "Cc" and c not in "\t\n\r\f" for c in text):
        return False
    start = text.lstrip("\ufeff \t\r\n").lower()
    return not start.startswith(("<", "#!"))  # html, svg, xml; scripts


def clean_name(name: str) -> str:
    """A name safe to store and show: the last path part, no control or format characters (no
    right-to-left override turning "gpj.exe" into "exe.jpg"), no leading dots, at most
    NAME_LIMIT characters with the extension kept. Empty if nothing is left."""
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = re.sub(r"\s+", " ", name).strip().lstrip(".").strip()
    if len(name) > NAME_LIMIT:
        stem, dot, ext = name.rpartition(".")
        ext = ext[:16] if dot else ""
        keep = NAME_LIMIT - len(ext) - len(dot)
        name = (stem if dot else name)[:keep].rstrip() + (dot + ext if dot else "")
    return name


def extension(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem else ""


@dataclass(frozen=True)
class Checked:
    """An accepted file: its stored name, MIME type and content (re-encoded, for an image)."""

    name: str
    mime: str
    content: bytes
    image: bool = False
    width: int | None = None
    height: int | None = None
    thumbnail: bytes | None = None


def check(name: str, content: bytes) -> Checked:
    """Accept `content` uploaded as `name`, or `Refused` with why."""
    shown = clean_name(name) or _("file")
    if not content:
        raise Refused("empty_file", _("%(name)s is empty.") % {"name": shown})
    if content.startswith(PROGRAM_MAGIC):
        raise Refused(
            "file_type", _("%(name)s is a program; programs cannot be sent.") % {"name": shown}
        )
    kind = sniff(content[:4096])
    if kind is None:
        raise Refused(
            "file_type",
            _("%(name)s is not a type that can be sent (images, PDF, office documents, text).")
            % {"name": shown},
        )
    ext = extension(shown)
    if not ext or not any(ext in k.extensions for k in KINDS):
        shown = f"{shown}.{kind.extensions[0]}"  # a name without a known type gets the content's
    elif ext not in kind.extensions and not (kind is JPEG and ext == "jpe"):
        raise Refused(
            "file_mismatch",
            _("%(name)s is not what its name says (its content is %(kind)s).")
            % {"name": shown, "kind": kind.extensions[0].upper()},
        )
    if kind is TEXT:
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused("file_type", _("%(name)s is not UTF-8 text.") % {"name": shown}) from None
    mime = OFFICE_MIME.get(extension(shown), kind.mime)
    if not kind.image:
        return Checked(name=shown, mime=mime, content=content)
    return _image(shown, kind, content)


def _image(name: str, kind: Kind, content: bytes) -> Checked:
    """Decode and encode again: pixels only, upright, at most MAX_SIDE a side; and a thumbnail."""
    unreadable = Refused("file_broken", _("%(name)s is not an image we can read.") % {"name": name})
    try:
        with Image.open(io.BytesIO(content)) as opened:
            if opened.width * opened.height > MAX_PIXELS:
                raise Refused(
                    "file_too_large",
                    _("%(name)s has too many pixels (at most %(limit)d million).")
                    % {"name": name, "limit": MAX_PIXELS // 1_000_000},
                )
            opened.seek(0)  # the first frame of an animation
            image = ImageOps.exif_transpose(opened)
            image.load()
    except Refused:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise unreadable from None
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    stored = _encode(image, kind)
    thumb = image.copy()
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE))
    thumbnail = _encode(thumb, kind)
    return Checked(
        name=name,
        mime=kind.mime,
        content=stored,
        image=True,
        width=image.width,
        height=image.height,
        thumbnail=thumbnail,
    )


def _encode(image: Image.Image, kind: Kind) -> bytes:
    """The pixels alone in the kind's format (a GIF: its first frame), with no metadata."""
    out = io.BytesIO()
    if kind is JPEG:
        image.convert("RGB").save(out, "JPEG", quality=85, optimize=True)
    elif kind is WEBP:
        image.save(out, "WEBP", quality=85)
    elif kind is GIF:
        image.convert("RGBA" if "transparency" in image.info else "RGB").save(out, "GIF")
    else:
        mode = image.mode if image.mode in ("RGB", "RGBA", "L", "LA", "P") else "RGBA"
        image.convert(mode).save(out, "PNG", optimize=False)
    return out.getvalue()
