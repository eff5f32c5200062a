"""What the LLM tests share besides the ``fake`` fixture (conftest.py): a fast backoff, and
the settings that point the service at a fake Messages API."""

from __future__ import annotations

from consumer.generate.anthropic_limiter import Backoff
from testkit.anthropic_server import FakeAnthropic

#: A test waits out retries in hundredths of a second, not the production backoff's seconds.
FAST = Backoff(base_s=0.01, max_s=0.05)
#: What the service and the SDK take for an API key (the fake accepts any).
API_KEY = "sk-ant-test-0123456789"


def llm_env(fake: FakeAnthropic, model: str) -> dict[str, str]:
    """The service's settings for the Anthropic backend against ``fake``."""
    return {
        "SELFTAUGHT_LLM_BACKEND": "anthropic",
        "ANTHROPIC_API_KEY": API_KEY,
        "ANTHROPIC_BASE_URL": fake.base_url,
        "SELFTAUGHT_ANTHROPIC_MODEL": model,
    }
