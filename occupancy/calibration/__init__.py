"""Calibration (floor 2): the literature targets the models are fitted to and the fitting routines.

Imports the models and dosing (floor 1) and the simulation floor (population variability); never a
workflow, the report or an interface.
"""
