"""alliance-monitor: the one console script, a thin layer over the packages.

The packages (``streams``, ``scoring``, ``gateway``, ``store``) hold the work;
this package only parses arguments and turns expected failures into one-line
messages with a non-zero exit.
"""

__version__ = "0.1.0"
