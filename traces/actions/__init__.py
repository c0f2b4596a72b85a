"""State-changing actions: the only code that writes traces, labels and runs.

Views, the API, management commands and Celery tasks all call these functions.
"""
