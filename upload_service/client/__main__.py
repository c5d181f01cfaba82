"""``python -m upload_service.client``: the same as the ``upload-client`` command."""

from upload_service.client.cli import main

if __name__ == "__main__":
    main()
