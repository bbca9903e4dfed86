"""``python -m bot`` is ``gridbot``."""

import sys

from bot.cli import main

sys.exit(main())
