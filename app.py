#!/usr/bin/env python3
"""The web app: `python app.py` (or `qa app`) serves a chat over your documents on
http://127.0.0.1:7860. If there is no index yet it is built from the documents folder (seeds/ by
default) first. See README.md for the settings (QA_* variables or the flags)."""

import sys

from qa.cli import app_main

if __name__ == "__main__":
    sys.exit(app_main())
