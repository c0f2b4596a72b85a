"""The thinkscope Django app: traces, steps, labels, scores and everything that reads them."""
