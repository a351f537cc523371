"""``python -m bench.torch``: run the PyTorch emitter overhead benchmark."""

import sys

from bench.torch import main

sys.exit(main())
