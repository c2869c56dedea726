"""python -m qa ingest | search | stats"""

import sys

from .cli import qa_main

sys.exit(qa_main())
