"""Vertrouwd consent package."""
