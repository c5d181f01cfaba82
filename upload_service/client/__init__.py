"""``upload-client``: the command-line client of the Upload Service (DESIGN §9).

It talks HTTP only (DESIGN §7) and imports nothing from the server package except the shared
pydantic schemas in :mod:`upload_service.schemas`.
"""
