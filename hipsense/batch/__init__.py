"""Studies: many recordings into day tables (``hipsense batch``), on a process pool or a Dask cluster.

- :mod:`hipsense.batch.inputs`: files, folders and globs into recordings, and their content digests;
- :mod:`hipsense.batch.worker`: one recording, as a worker runs it (never raises);
- :mod:`hipsense.batch.study`: the study (resume, pool or Dask, the tables);
- :mod:`hipsense.batch.html`: ``report.html``.

The arithmetic of a day is :mod:`processing.days`, the same as ``analyze --summary`` and the history store.
"""

from hipsense.batch.study import StudyOptions, StudyResult, run_study
from hipsense.batch.worker import Settings

__all__ = ["Settings", "StudyOptions", "StudyResult", "run_study"]
