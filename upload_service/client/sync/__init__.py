"""``upload-client sync``: mirror a local folder into a folder on the server.

One-way, local to server. Each pass scans the folder (a stat cache skips unchanged files),
compares it with the server's manifest and with what the last pass left there, and pushes the
difference: moves, changed files as missing chunks only, deletes, empty folders. The design is in
docs/sync.md.
"""
