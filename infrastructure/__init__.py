"""Persistence settings, transcodings, projections and their SQL tables."""
