"""alliance-monitor: the one console script, a thin layer over the packages.

The packages (``streams``, ``scoring``, ``gateway``, ``store``, ``validation``)
hold the work; this package parses arguments (``commands/``), prints, turns
expected failures into one-line messages with exit 2, and supervises the
pipeline's processes (``up``, ``demo``). Nothing imports it.
"""

__layer__ = "cli"

__version__ = "0.1.0"
