"""``python -m bench.emit [N]``: run the emitter overhead benchmark."""

import sys

from bench.emit import main

sys.exit(main())
