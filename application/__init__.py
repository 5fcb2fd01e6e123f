"""Use cases: load the aggregates, make one domain decision, save every touched aggregate."""
