"""The log's quick pre-scan never lets personal data through that core.pii would mask."""

import pytest

from core.pii import mask_personal_data
from feedback.privacy import mask_text, pseudonym

EXAMPLES = [
    "手机 +86 138-1234-5678 or 15912345678",
    "email a.b+c@mail.example.cn",
    "身份证 11010519491231002X",
    "card 4111 1111 1111 1111 or 4111-1111-1111-1111",
    "office +1 (555) 123-4567, +44 20 7946 0958, (021) 6234-5678, 010-12345678",
    "Order NW-20240101, price 1299 yuan, on 2024-05-01, see [1] and [2]",
    "no digits at all",
]


@pytest.mark.parametrize("text", EXAMPLES)
def test_pre_scan_masks_exactly_what_core_pii_masks(text):
    assert mask_text(text) == mask_personal_data(text)


def test_pseudonyms_are_stable_and_reveal_nothing():
    assert pseudonym("jane@example.com") == pseudonym("jane@example.com") != pseudonym("john@example.com")
    assert "jane" not in pseudonym("jane@example.com")
