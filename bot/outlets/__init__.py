"""Delivery to group robots of WeCom, DingTalk and Feishu over HTTP: the platforms'
request shapes and signatures (``robots``), a limiter per robot (``limiter``) and the
deliveries driven by the scheduled jobs (``hub``). Plumbing, like ``bot.runtime`` for
Telegram: what is due and how it reads come from ``bot.domain.outlets`` and
``bot.formats.robots``. Webhook keys and secrets never reach a log line."""
