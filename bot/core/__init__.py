"""The rules every layer above shares, Telegram-free and database-free where it can be:
who may do what (``access``, ``policy`` — the one table of commands and buttons), the
clock, periods and date arguments, domain errors (``Refused``), names, codes, geography,
paging and argument parsing."""
