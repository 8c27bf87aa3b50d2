"""The HTTP face of the service: FastAPI routes over the operations (no SQL here)."""
