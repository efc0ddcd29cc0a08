"""The input rules for text: what a string field or query parameter may contain, and what an email is.

One rule for every string (API section 1, `text`): no C0/C1 control characters, no bidi overrides, no
zero-width characters, no noncharacters (U+FFFE, U+FFFF, ...). Multi-line fields may hold tab and newline
(and Unicode's line and paragraph separators), and their CRLF is stored as LF.
These rules tighten input only: nothing here is ever run over a stored value on the way out.
"""

from __future__ import annotations

import re
import unicodedata

# Fields whose text may span lines. Passwords are exempt from the text rule altogether: any character
# a password manager produces is accepted (bcrypt hashes bytes).
MULTILINE_FIELDS = frozenset(
    {"notes", "body", "content", "description", "message", "job_description", "summary", "highlights"}
)
EXEMPT_FIELDS = frozenset({"password", "current_password", "new_password"})
# Every field of this name holds an address (or a list of them), wherever it sits (account, client, resume,
# business profile, an invoice e-mail's recipients).
EMAIL_FIELDS = frozenset({"email", "to", "cc"})

# Unicode's 66 noncharacters (U+FDD0-U+FDEF and the last two code points of every plane) are for a program's
# internal use, never for interchange; XML 1.0 cannot hold U+FFFE or U+FFFF (the e-invoice).
_NONCHARACTERS = "\ufdd0-\ufdef" + "".join(
    chr(plane * 0x10000 + 0xFFFE) + chr(plane * 0x10000 + 0xFFFF) for plane in range(17)
)
_INVISIBLE = "\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200b-\u200d\ufeff" + _NONCHARACTERS
# A one-line field holds no line break, Unicode's own separators included (an e-mail header could not carry
# them: a subject or a sender's name with U+2028 is refused here rather than by the mail library later).
_FORBIDDEN = re.compile(f"[\x00-\x1f\u2028\u2029{_INVISIBLE}]")
_FORBIDDEN_MULTILINE = re.compile(f"[\x00-\x08\x0b-\x1f{_INVISIBLE}]")

TEXT_RULE = "must not contain control, bidi-override, zero-width or noncharacter characters"


def clean_field(value: str, field: str) -> str:
    """A string field of a request body as stored, by the rule its name calls for; ValueError if refused."""
    if field in EXEMPT_FIELDS:
        return value
    value = clean_text(value, multiline=field in MULTILINE_FIELDS)
    return normalize_email(value) if field in EMAIL_FIELDS else value


def clean_text(value: str, *, multiline: bool = False) -> str:
    """The value as stored (CRLF -> LF in multi-line fields); ValueError names the first bad character."""
    if multiline:
        value = value.replace("\r\n", "\n")
    found = (_FORBIDDEN_MULTILINE if multiline else _FORBIDDEN).search(value)
    if found:
        raise ValueError(f"{TEXT_RULE} (found U+{ord(found.group()):04X})")
    return value


# ---------------------------------------------------------------- email

# A strict, ASCII-only addr-spec: dot-atoms on both sides, a domain of LDH labels with a letter TLD.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"^{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+[A-Za-z]{{2,63}}$")
MAX_EMAIL_LENGTH, MAX_LOCAL_PART = 254, 64


def fold_email(value: str) -> str:
    """The comparable form of an address: trimmed, NFKC-normalised, lower-cased (`ＡＤＡ` -> `ada`)."""
    return unicodedata.normalize("NFKC", value.strip()).lower()


def normalize_email(value: str) -> str:
    """A syntactically valid address in its folded form; ValueError (400) otherwise.

    Folding first, then requiring ASCII, means a look-alike (`İda@…`, which folds to `i̇da@…`) is refused
    rather than stored as a second account next to `ida@…`.
    """
    email = fold_email(value)
    if not email.isascii():
        raise ValueError("must be an email address in ASCII letters (after NFKC normalisation)")
    local, _, _ = email.partition("@")
    if len(email) > MAX_EMAIL_LENGTH or len(local) > MAX_LOCAL_PART or not _EMAIL.match(email):
        raise ValueError("must be an email address")
    return email
