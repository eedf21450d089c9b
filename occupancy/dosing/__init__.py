"""Dosing (floor 1): schedules of tablets, boluses and infusions, and the quick-form quantity parser.

May import only :mod:`occupancy.errors` and each other; the models and everything above build on it.
"""
