"""Codes people type — site codes, unit codes, tip numbers — in the one form they are
compared and stored in.

A zero-width space, a bidi mark or a fullwidth letter makes text that looks exactly like
an existing code but is another string: a second site ``WL-301`` next to the first, one
that slips past "this code is used in another unit". Every typed code goes through
``typed_code`` before it is looked up or stored: NFKC (fullwidth and compatibility forms
become their plain letters and digits), format characters (Unicode category Cf: zero-width
spaces and joiners, bidi marks and isolates, the BOM, soft hyphens) removed, and white
space collapsed to single spaces and trimmed.
"""

from __future__ import annotations

import unicodedata


def typed_code(text: str) -> str:
    """``text`` as a code is compared and stored: NFKC, no format characters, single spaces."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(char for char in text if unicodedata.category(char) != "Cf")
    return " ".join(text.split())
