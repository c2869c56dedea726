#!/usr/bin/env python3
"""Ingest documents into the index: python ingest.py [PATH ...] [--rebuild] [--json] ... (or `qa ingest`)."""

import sys

from qa.cli import ingest_main

if __name__ == "__main__":
    sys.exit(ingest_main())
