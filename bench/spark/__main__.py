"""``python -m bench.spark``: run the Spark emitter overhead benchmark."""

import sys

from bench.spark import main

sys.exit(main())
