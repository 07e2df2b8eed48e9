"""Importable applications for tandem's Python tests (targets like ``apps.handlers:hello``)."""
