"""Quality evaluation: run a dataset through the pipeline, score every field, report and compare runs.

`clinidoc eval` (commands.py) = dataset.py (readers) -> runner.py (pipeline + metrics.py per case,
optional judge.py) -> report.py (text, JSON, HTML; eval-compare).
"""

from clinidoc.evaluation.dataset import Case, load_dataset
from clinidoc.evaluation.metrics import aggregate, score_case

__all__ = ["Case", "aggregate", "load_dataset", "score_case"]
