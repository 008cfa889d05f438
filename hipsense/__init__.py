"""hipsense: a hip-worn posture sensor for people with low-back pain.

The application package: command line, configuration, runtime loop and outputs (console, MQTT, store).
"""

__version__ = "0.1.0"
