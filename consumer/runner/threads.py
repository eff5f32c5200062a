"""Blocking librdkafka calls on daemon threads, for the loop to await or a callback to wait for."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["off_loop", "on_thread"]


def on_thread(fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
    """Run a blocking librdkafka call on a daemon thread; its result, to await
    (``asyncio.wrap_future``) or, in a rebalance callback, to wait for.

    Not ``asyncio.to_thread``: a call stuck inside librdkafka would then keep the process
    from exiting (the default executor is joined at shutdown), and a fatal exit must exit.
    """
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return  # cancelled before it began: nobody waits for it
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # handed to whoever waits
            future.set_exception(exc)

    name = getattr(fn, "__name__", None) or getattr(getattr(fn, "func", None), "__name__", "call")
    threading.Thread(target=run, name=f"kafka-{name}", daemon=True).start()
    return future


def off_loop(fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
    """Run a blocking librdkafka call on a daemon thread and await its result."""
    return asyncio.wrap_future(on_thread(fn, *args))
