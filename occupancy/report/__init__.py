"""Presentation (floor 5): figures, output folders and the self-contained HTML report.

Takes the results of the workflows and simulation below it and turns them into files; holds no science.
"""
