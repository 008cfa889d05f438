"""hipsense sub-commands; each module defines register(subparsers)."""
