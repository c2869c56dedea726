"""python -m qa ask | ingest | search | stats | check | serve | app (the `qa` command)."""

import sys

from .cli import qa_main

sys.exit(qa_main())
