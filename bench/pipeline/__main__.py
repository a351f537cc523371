"""``python -m bench.pipeline [--quick]``: run the pipeline throughput/freshness benchmark."""

import sys

from bench.pipeline import main

sys.exit(main())
