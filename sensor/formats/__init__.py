"""File formats for recordings: fast CSV text codec, compact binary (.hsb), and phone exports.

The public entry points are in :mod:`sensor.recording`; these modules are its building blocks.
"""
