"""Vertrouwd models package."""
