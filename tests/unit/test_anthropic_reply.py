"""read_answer: what the generator takes from a Messages API answer's JSON."""

from __future__ import annotations

import pytest

from consumer.generate.anthropic_cost import Tokens
from consumer.generate.anthropic_reply import Reply, read_answer


def answer(**over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-5-5",
        "content": [{"type": "text", "text": '{"wrong_phi_after": 7.5}'}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 120,
            "output_tokens": 40,
            "cache_read_input_tokens": 1400,
            "cache_creation_input_tokens": None,
        },
    }
    body.update(over)
    return body


def test_an_answer_gives_its_text_stop_reason_and_usage() -> None:
    reply, tokens = read_answer(answer())
    assert reply == Reply(text='{"wrong_phi_after": 7.5}', stop_reason="end_turn", refusal=None)
    # null counts (as the API sends for a kind it did not use) are zero, not an error
    assert tokens == Tokens(input=120, output=40, cache_read=1400, cache_write=0)


def test_only_text_blocks_make_the_text_in_order() -> None:
    blocks = [
        {"type": "thinking", "thinking": "hmm", "signature": "x"},
        {"type": "text", "text": '{"a": '},
        {"type": "tool_use", "id": "t", "name": "n", "input": {}},
        {"type": "text", "text": "1}"},
    ]
    reply, _ = read_answer(answer(content=blocks))
    assert reply.text == '{"a": 1}'


def test_a_refusal_carries_its_explanation() -> None:
    reply, _ = read_answer(
        answer(content=[], stop_reason="refusal", stop_details={"explanation": "unsafe"})
    )
    assert reply == Reply(text="", stop_reason="refusal", refusal="unsafe")


def test_an_answer_without_usage_has_no_tokens() -> None:
    body = answer()
    del body["usage"]
    assert read_answer(body)[1] is None


@pytest.mark.parametrize(
    "body",
    [
        None,
        "not an object",
        [answer()],
        {"type": "message"},  # no content
        answer(content="text"),
        answer(content=[{"type": "text"}]),  # a text block without text
        answer(content=[{"type": "text", "text": 3}]),
        answer(usage={"input_tokens": "120"}),  # a count that is not one
        answer(usage={"input_tokens": -1}),
    ],
)
def test_a_body_that_is_not_an_answer_is_a_value_error(body: object) -> None:
    # The transport retries these like a 500: the server's fault, not the event's.
    with pytest.raises(ValueError):
        read_answer(body)
