"""``python -m rag`` is the same as the ``rag`` command."""

import sys

from rag.app.cli import main

sys.exit(main())
