"""The REST API (SPEC §4): serializers, viewsets scoped to the user's projects, and the router."""
