"""Building blocks of :mod:`molspace.objective`: desirability transforms and components.

Import the public API from :mod:`molspace.objective`; these modules are its parts.
"""
