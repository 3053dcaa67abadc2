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


# Disguised personal data the log must mask all the same: fullwidth "＠" and digits, numbers split by
# zero-width or filler characters, in Chinese and English text.
DISGUISED = [
    ("邮箱是 zhang.wei＠example.cn，请回复", "[EMAIL]", "zhang.wei"),
    ("write to john﹫example.com please", "[EMAIL]", "john"),
    ("我的手机号１３８００１３８０００", "[PHONE]", "１３８００１３８０００"),
    ("call me on １３８００１３８０００ tonight", "[PHONE]", "１３８００"),
    (
        "电话 1\u200b3\u200b8\u200b0\u200b0\u200b1\u200b3\u200b8\u200b0\u200b0\u200b0 找我",
        "[PHONE]",
        "8\u200b0",
    ),
    ("phone 138\u3164\u3164\u3164\u31640013\u3164\u3164\u3164\u31648000 thanks", "[PHONE]", "0013"),
    ("身份证号１１０１０５１９４９１２３１００２Ｘ", "[ID_CARD]", "１９４９"),
]


@pytest.mark.parametrize(("text", "tag", "secret"), DISGUISED)
def test_disguised_personal_data_is_masked_in_the_log(text, tag, secret):
    masked = mask_text(text)
    assert tag in masked and secret not in masked
    assert masked == mask_personal_data(text)


def test_pseudonyms_are_stable_and_reveal_nothing():
    key = b"secret"
    assert pseudonym("jane@example.com", key) == pseudonym("jane@example.com", key)
    assert pseudonym("jane@example.com", key) != pseudonym("john@example.com", key)
    assert "jane" not in pseudonym("jane@example.com", key)


def test_a_pseudonym_cannot_be_recomputed_without_the_secret(tmp_path):
    import hashlib

    from core.settings import PiiSettings
    from feedback.privacy import SECRET_FILE, pseudonym_secret

    phone = "13812345678"  # hashing every phone number would find a plain SHA-256 of it
    made = pseudonym_secret(PiiSettings(), tmp_path)
    assert pseudonym_secret(PiiSettings(), tmp_path) == made  # kept in the home: stable over restarts
    assert (tmp_path / SECRET_FILE).stat().st_mode & 0o777 == 0o600
    assert pseudonym(phone, made) != "u_" + hashlib.sha256(phone.encode()).hexdigest()[:24]
    assert pseudonym(phone, made) != pseudonym(phone, pseudonym_secret(PiiSettings(), tmp_path / "other"))
    configured = PiiSettings(pseudonym_secret="shared-by-replicas")
    assert pseudonym_secret(configured, tmp_path / "a") == pseudonym_secret(configured, tmp_path / "b")
