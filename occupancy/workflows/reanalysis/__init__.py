"""The blockade-adjusted reanalysis (``blockade reanalyse``): scenario, settings, results, workflow."""
