"""The study-design planner (``blockade plan``): design section, power, searches, results, workflow."""
