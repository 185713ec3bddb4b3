"""Vertrouwd server package."""
