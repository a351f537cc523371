"""``python -m bench.peer [--quick] [--backend B]``: this project against data-rentgen."""

import sys

from bench.peer import main

sys.exit(main())
