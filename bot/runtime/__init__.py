"""Telegram plumbing: the context handlers receive, per-chat ordering, polling and the
webhook server (both through the durable inbox), sending (rate limits, retries, long
texts, edits), the job queue, and the lifecycle (start, prompt stop).

It never imports ``handlers``: ``bot.app`` wires them in."""
