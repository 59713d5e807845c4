"""What a run leaves: the record's history, comparisons, charts, and every export format.

Reads reports (plain dictionaries as a run's JSON holds them); never imports the run, the
phone model or the model files (ARCHITECTURE.md).
"""
