"""Reads: what pages, the API and commands query from the store, and nothing that writes.

Writes go through ``traces.actions``; a view, serializer or command that needs rows asks a function
here (or a QuerySet method of ``traces.models``) instead of querying inline. Each module is named
for what it reads.
"""
