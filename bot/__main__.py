"""``python -m bot`` is ``gridbot``."""

import sys

from bot.ops.cli import main

sys.exit(main())
