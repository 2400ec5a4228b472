"""GS1 barcodes printed on retail goods: EAN-13, UPC-A (12 digits) and EAN-8.

All three end in a mod-10 check digit: weights 3 and 1 alternate from the digit next to the
check digit leftwards (GS1 General Specifications, section 7.9).
"""

from __future__ import annotations

LENGTHS = frozenset({8, 12, 13})


def check_digit(body: str) -> int:
    """The check digit for `body` (the code without its last digit)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def is_valid_barcode(code: str) -> bool:
    """True for an EAN-13, UPC-A or EAN-8 whose check digit is right."""
    if len(code) not in LENGTHS or not code.isascii() or not code.isdigit():
        return False
    return check_digit(code[:-1]) == int(code[-1])


def normalise_barcode(code: str) -> str:
    """UPC-A is EAN-13 with a leading 0; store and look up the 13-digit form."""
    code = code.strip()
    return "0" + code if len(code) == 12 else code
