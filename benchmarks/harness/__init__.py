"""The shared parts of ``benchmarks/run_benchmarks.py``.

``plan`` (sizes per mode), ``tools`` (curl, nginx, copyparty, py-spy), ``processes`` (start and
stop a server's process group, RSS and CPU of a process tree), ``servers`` (our server, nginx,
copyparty), ``transfer`` (curl, ``upload-client put``, many small PUTs), ``testfiles``,
``rounds`` (interleaved rounds), ``report``, ``markdown`` and ``environment``. The benchmarks
themselves are in ``benchmarks/cases/``, one module each.
"""
