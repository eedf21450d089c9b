"""Workflows (floor 4): planning a study, reanalysing a literature, running a scenario file.

They compute and return frozen results; figures, files and the HTML report belong to :mod:`occupancy.report`.
"""
