"""``python -m bench.pipeline [--quick] [--backend B]``: the pipeline throughput benchmark."""

import sys

from bench.pipeline import main

sys.exit(main())
