"""Owner-only files for health data (:mod:`sensor.formats.files`).

The recording formats themselves live in :mod:`sensor.recording`.
"""
