"""``python -m bench.query [--nodes N] [--samples S]``: run the query latency benchmark."""

import sys

from bench.query import main

sys.exit(main())
