"""Annotation (floor 3): the literature tables (bundled review, user CSVs) and each outcome's blockade.

Imports floors 1–2 and :mod:`meta` (effect sizes); never a workflow, the report or an interface.
"""
