"""Caption diversity: measures over a run's captions (`metrics.py`), read from a run (`run.py`),
shown in `mals report` (`report.py`) and side by side in `mals compare` (`compare.py`)."""
