"""Where the project's own data lives (seeds, configuration), wherever it is run from."""

import os
from pathlib import Path

# The package runs from a checkout (uv's editable install) or the project's image, both of which
# carry the whole tree; FPA_HOME points elsewhere when needed.
PROJECT_ROOT = Path(os.environ.get("FPA_HOME") or Path(__file__).resolve().parents[2])
DBT_DIR = PROJECT_ROOT / "dbt"
SEEDS_DIR = DBT_DIR / "seeds"
