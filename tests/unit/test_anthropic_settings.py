import pytest

from consumer.errors import ConfigError
from consumer.generate.anthropic import AnthropicGenerator
from consumer.settings import load


def test_llm_defaults() -> None:
    s = load({})
    assert (s.anthropic_model, s.anthropic_max_tokens) == ("claude-sonnet-5-5", 1024)
    assert (s.llm_max_concurrency, s.llm_min_concurrency) == (64, 1)
    assert (s.llm_request_timeout_s, s.llm_time_budget_s) == (60.0, 900.0)
    assert s.llm_spend_cap_usd_per_hour == 0
    assert (s.llm_max_state_chars, s.llm_max_reasoning_chars, s.llm_max_purpose_chars) == (
        6000,
        3000,
        1500,
    )


def test_llm_settings_come_from_the_environment() -> None:
    s = load(
        {
            "SELFTAUGHT_ANTHROPIC_MODEL": "claude-haiku-4-5",
            "SELFTAUGHT_LLM_MAX_CONCURRENCY": "8",
            "SELFTAUGHT_LLM_SPEND_CAP_USD_PER_HOUR": "2.5",
            "SELFTAUGHT_LLM_PRICE_OUTPUT_PER_MTOK": "5",
        }
    )
    assert s.anthropic_model == "claude-haiku-4-5" and s.llm_max_concurrency == 8
    assert s.llm_spend_cap_usd_per_hour == 2.5 and s.llm_price_output_per_mtok == 5


def test_bad_llm_settings_fail_with_one_line_each() -> None:
    with pytest.raises(ConfigError) as exc:
        load(
            {
                "SELFTAUGHT_LLM_MAX_CONCURRENCY": "0",
                "SELFTAUGHT_LLM_REQUEST_TIMEOUT_S": "-1",
                "SELFTAUGHT_LLM_SPEND_CAP_USD_PER_HOUR": "nan",
            }
        )
    assert len(exc.value.lines) == 3
    with pytest.raises(ConfigError) as exc:
        load({"SELFTAUGHT_LLM_MIN_CONCURRENCY": "9", "SELFTAUGHT_LLM_MAX_CONCURRENCY": "4"})
    assert "MIN_CONCURRENCY" in exc.value.lines[0]


def test_from_settings_names_the_model_and_opens_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    s = load(
        {"SELFTAUGHT_ANTHROPIC_MODEL": "claude-haiku-4-5", "SELFTAUGHT_LLM_MAX_CONCURRENCY": "5"}
    )
    g = AnthropicGenerator.from_settings(s)
    assert g.name == "anthropic/claude-haiku-4-5"
    assert g.concurrency_limit == 5 and g.paused_because() is None
