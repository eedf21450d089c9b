"""Simulation (floor 2): scenarios, time courses at assessments, virtual populations and summaries.

Imports the models and dosing (floor 1) and the calibration records of the same floor; never a workflow,
the report or an interface.
"""
