import pytest

from rails.language import Texts
from rails.rules import Rule, RuleSet


@pytest.fixture
def output_rules() -> RuleSet:
    """Insults masked, promises blocked, personal data masked: the answer side of a typical shop."""
    return RuleSet(
        [
            Rule(name="insults", action="mask", words=("idiot", "stupid", "傻瓜", "笨蛋")),
            Rule(name="promises", action="block", words=("guaranteed refund", "保证退款")),
            Rule(name="personal_data", action="mask", pii=("phone", "id_card", "bank_card", "email")),
        ],
        Texts().by_language("blocked_output"),
    )
