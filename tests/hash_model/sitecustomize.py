"""Start-up hook of the test suite's child processes: with HASH_MODEL_FOR_TESTS=1 (and this folder
on PYTHONPATH, see conftest.hash_model_env), every embedding model is the hash double of
tests/doubles.py, so a child whose outcome does not depend on the model skips loading torch."""

import os
import sys
from pathlib import Path

if os.environ.get("HASH_MODEL_FOR_TESTS") == "1":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.doubles import install_hash_model

    install_hash_model()
