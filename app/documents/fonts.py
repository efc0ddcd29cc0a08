"""The fonts a document is set in, and what they can print (API section 24, "Any text renders").

Typst sees exactly these fonts, never the machine's: its own embedded ones (Libertinus Serif, the body font,
covers Latin, Greek, Cyrillic and Hebrew) and the Noto fonts of two packages, `manimgx-fonts` (Noto Sans, its
faces for the scripts Latin fonts lack, Noto Sans Symbols and the monochrome Noto Emoji) and
`manimgx-fonts-cjk` (Noto Sans CJK, every weight). All are embedded subset, so a document carries only the
glyphs it prints, and every machine renders alike.

Under PDF/A Typst refuses a character no font has (it would print .notdef). So, before rendering, every
character that no shipped font maps (its cmap, read with uharfbuzz), and every private-use character, becomes
U+FFFD, which Noto Sans prints as the visible replacement mark. Default-ignorable characters (variation
selectors, tags, soft hyphens, joiners) stay: Typst shapes them away as Unicode asks.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import cache
from importlib.resources import files
from pathlib import Path

import typst
import uharfbuzz as hb

REPLACEMENT = "\ufffd"
FONT_PACKAGES = ("manimgx_fonts", "manimgx_fonts_cjk")

BODY = "Libertinus Serif"  # Typst's own: Latin, Greek, Cyrillic, Hebrew (the look documents always had)
# After the body font, in this order: Noto Sans for the Latin, Greek and Cyrillic it lacks (Vietnamese, IPA,
# U+FFFD), then one face per script. Typst takes, for each cluster, the first family that has its glyphs.
SCRIPTS = (
    "Noto Sans",
    "Noto Sans Hebrew",
    "Noto Sans Arabic",
    "Noto Sans Devanagari",
    "Noto Sans Bengali",
    "Noto Sans Gurmukhi",
    "Noto Sans Gujarati",
    "Noto Sans Oriya",
    "Noto Sans Tamil",
    "Noto Sans Telugu",
    "Noto Sans Kannada",
    "Noto Sans Malayalam",
    "Noto Sans Sinhala",
    "Noto Sans Thai",
    "Noto Sans Lao",
    "Noto Sans Khmer",
    "Noto Sans Myanmar",
    "Noto Sans Armenian",
    "Noto Sans Georgian",
    "Noto Sans Ethiopic",
)
# Han characters are shared by Chinese, Japanese and Korean but drawn differently in each: the face of the
# text's language comes first: kana means Japanese, Hangul Korean; else the document's locale's, else
# Simplified Chinese. The other faces follow (they cover the same characters).
CJK = ("Noto Sans CJK JP", "Noto Sans CJK KR", "Noto Sans CJK SC", "Noto Sans CJK TC", "Noto Sans CJK HK")
JAPANESE, KOREAN, SIMPLIFIED, TRADITIONAL, HONG_KONG = CJK
_CJK_BY_LOCALE = {
    "ja": JAPANESE,
    "ko": KOREAN,
    "zh": SIMPLIFIED,
    "zh-Hans": SIMPLIFIED,
    "zh-Hant": TRADITIONAL,
    "zh-TW": TRADITIONAL,
    "zh-HK": HONG_KONG,
}
SYMBOLS = ("Noto Sans Symbols", "Noto Emoji")
_KANA = re.compile("[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_HANGUL = re.compile("[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")

# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt): invisible unless a font draws them.
_DEFAULT_IGNORABLE = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
_KEPT_CONTROLS = frozenset("\t\n\r")


def font_dirs() -> list[Path]:
    """The folders of the shipped font files (inside the installed packages)."""
    return [Path(str(files(package))) for package in FONT_PACKAGES]


def font_files() -> list[Path]:
    return sorted(path for folder in font_dirs() for path in folder.iterdir() if _is_font(path))


def _is_font(path: Path) -> bool:
    return path.suffix.lower() in {".ttf", ".otf", ".ttc", ".otc"}


@cache
def typst_fonts() -> typst.Fonts:
    """Typst's font book, built once per rendering process: the embedded fonts and the shipped ones only."""
    return typst.Fonts(
        include_system_fonts=False,
        include_embedded_fonts=True,
        font_paths=[str(folder) for folder in font_dirs()],
    )


@cache
def coverage() -> frozenset[int]:
    """Every code point some shipped font maps to a glyph (each face of a collection counted)."""
    covered: set[int] = set()
    for path in font_files():
        blob = hb.Blob.from_file_path(str(path))
        for index in range(hb.Face(blob).count):
            covered.update(hb.Face(blob, index).unicodes)
    return frozenset(covered)


@cache
def _drawn() -> frozenset[int]:
    """The code points printed as themselves: those a shipped font has (but private use, which means nothing
    outside its own agreement, and controls but tab and newlines), and the default-ignorable ones."""
    ignorable = (point for low, high in _DEFAULT_IGNORABLE for point in range(low, high + 1))
    kept = {point for point in coverage() if unicodedata.category(chr(point)) not in ("Co", "Cc")}
    return frozenset(kept.union(ignorable, map(ord, _KEPT_CONTROLS)))


def _instead(char: str) -> str:
    """What prints in place of a character no shipped font has: a space for a space, else U+FFFD."""
    category = unicodedata.category(char)
    if category == "Zs":
        return " "
    return "\n" if category in ("Zl", "Zp") else REPLACEMENT


def printable(text: str) -> str:
    """`text` as the shipped fonts can print it: each character no font has becomes U+FFFD."""
    if text.isascii() and text.isprintable():
        return text
    drawn = _drawn()
    return "".join(char if ord(char) in drawn else _instead(char) for char in text)


def families(texts: Iterable[str], locale: str) -> list[str]:
    """Typst's `text(font: ...)` list for a document holding `texts` in the business `locale`."""
    written = "".join(texts)
    if _KANA.search(written):
        first = JAPANESE
    elif _HANGUL.search(written):
        first = KOREAN
    else:
        tag = locale.replace("_", "-")
        first = _CJK_BY_LOCALE.get(tag) or _CJK_BY_LOCALE.get(tag.split("-")[0]) or SIMPLIFIED
    return [BODY, *SCRIPTS, first, *(face for face in CJK if face != first), *SYMBOLS]
