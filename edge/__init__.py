"""Vertrouwd edge package."""
