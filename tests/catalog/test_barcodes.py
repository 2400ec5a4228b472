"""GS1 check digits: EAN-13, UPC-A and EAN-8."""

from __future__ import annotations

import pytest

from catalog.barcodes import check_digit, is_valid_barcode, normalise_barcode


@pytest.mark.parametrize(
    "code",
    [
        "4006381333931",  # EAN-13 from the GS1 check digit calculator's example
        "6901234567892",  # a Chinese (690) EAN-13
        "036000291452",  # UPC-A
        "96385074",  # EAN-8
        "0000000000000",
    ],
)
def test_valid_codes(code):
    assert is_valid_barcode(code)


@pytest.mark.parametrize("code", ["4006381333932", "6901234567890", "036000291453", "96385075"])
def test_a_wrong_check_digit_is_refused(code):
    assert not is_valid_barcode(code)


@pytest.mark.parametrize(
    "code", ["", "4", "400638133393", "40063813339311", "9638507", "123456789"]
)
def test_a_wrong_length_is_refused(code):
    # 400638133393 is 12 digits but not a valid UPC-A; 9638507 is 7 digits.
    assert not is_valid_barcode(code)


@pytest.mark.parametrize(
    "code", ["40063813339A1", "4006381 33931", "-400638133393", "٤٠٠٦٣٨١٣٣٣٩٣١", "96385O74"]
)
def test_non_digits_are_refused(code):
    assert not is_valid_barcode(code)


def test_check_digit_and_upc_as_ean13():
    assert check_digit("400638133393") == 1
    assert normalise_barcode("036000291452") == "0036000291452"
    assert is_valid_barcode(normalise_barcode("036000291452"))
