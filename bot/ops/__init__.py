"""The operator's side: the ``gridbot`` command (``cli``), maintenance (check, backup,
restore, evidence clean-up) and log formatting. It starts the bot through ``bot.app``."""
