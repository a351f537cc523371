"""``python -m bench.soak --minutes N``: run the chaos soak."""

import sys

from bench.soak import main

sys.exit(main())
