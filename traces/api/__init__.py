"""The REST API (docs/concepts.md §4): serializers, viewsets scoped to the user's projects, and the router."""
