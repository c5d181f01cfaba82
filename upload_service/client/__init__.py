"""``upload-client``: the command-line client of the Upload Service.

It talks HTTP only (docs/architecture.md §1) and imports nothing from the server package
except the shared pydantic schemas in :mod:`upload_service.schemas`.
"""
