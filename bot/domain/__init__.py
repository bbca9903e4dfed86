"""The domain services: reports, status updates, tips, invites, members, org, groups,
rankings, digests, bulletins, exports, audit, menus and the update inbox.

Plain data in and out; never ``telegram``, ``handlers`` or ``bot.runtime`` (the import
contract in ``pyproject.toml``). Each service holds the ``storage`` repositories it
needs; the records it returns are in ``records``. The drafted conversations' steps are
tables (``flows``, with one table per flow beside its service).
"""
