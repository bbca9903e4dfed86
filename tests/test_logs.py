"""The token never reaches a log line, whoever logs it and however."""

from __future__ import annotations

import io
import logging

from bot.ops.logs import REDACTED, RedactTokenFilter, configure_logging
from tests.conftest import TEST_TOKEN


def test_filter_redacts_messages_arguments_and_tracebacks():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactTokenFilter([TEST_TOKEN]))
    logger = logging.getLogger("test.redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("POST https://api.telegram.org/bot%s/getMe", TEST_TOKEN)
        try:
            raise RuntimeError(f"failed: https://x/bot{TEST_TOKEN}/sendMessage")
        except RuntimeError:
            logger.exception("boom")
        other = ":".join(("987654321", "ABCdefGHIjklMNOpqrSTUvwxYZ012345678"))
        logger.warning("another bot's token %s", other)
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert TEST_TOKEN not in text and "ABCdefGHI" not in text
    assert text.count(REDACTED) == 3
    assert "RuntimeError" in text  # the traceback is kept, only the secret is gone


def test_configure_logging_quiets_httpx_and_installs_the_filter():
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure_logging("DEBUG", secrets=[TEST_TOKEN])
        assert logging.getLogger("httpx").level == logging.WARNING
        assert any(isinstance(f, RedactTokenFilter) for h in root.handlers for f in h.filters)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
