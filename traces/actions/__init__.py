"""State-changing actions (STYLE.md §4): the only code that writes traces, labels and runs.

Views, the API, management commands and Celery tasks all call these functions.
"""
