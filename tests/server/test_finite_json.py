"""A number JSON cannot carry never turns an answer into a 500."""

import json
import math

from server.engines.base import TokenLogprob as EngineLogprob
from server.errors import FiniteJSONResponse
from server.shaping import LOGPROB_FLOOR, logprobs


def test_a_token_the_sampling_ruled_out_gets_openais_floor_not_minus_infinity():
    tokens = [EngineLogprob(token="Hi", logprob=-0.1, top=[("Hi", -0.1), ("Yo", -math.inf)])]
    shaped = logprobs(tokens).content[0]
    assert shaped.logprob == -0.1 and [t.logprob for t in shaped.top_logprobs] == [-0.1, LOGPROB_FLOOR]


def test_a_non_finite_score_is_sent_as_null_and_the_rest_as_it_is():
    body = {"grounding": {"score": math.nan, "threshold": 0.38}, "scores": [1.0, math.inf], "text": "答"}
    sent = json.loads(FiniteJSONResponse(body).body)
    assert sent == {"grounding": {"score": None, "threshold": 0.38}, "scores": [1.0, None], "text": "答"}
