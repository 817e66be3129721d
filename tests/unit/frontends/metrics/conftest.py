import sys
from pathlib import Path

# The fake ServerApi lives with the HTTP frontend tests.
sys.path.insert(0, str(Path(__file__).parents[1] / "http"))
sys.path.insert(0, str(Path(__file__).parents[1]))  # fake_core, which it imports
