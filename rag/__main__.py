"""``python -m rag`` is the same as the ``rag`` command."""

import sys

from .cli import main

sys.exit(main())
