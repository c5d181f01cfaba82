"""The benchmarks of ``benchmarks/run_benchmarks.py``, one module each (see benchmarks/README.md).

``big_put`` (raw PUT and ``upload-client put``), ``download``, ``rss``, ``small_files``,
``listing`` (with ``seed``, which fills its database) and ``profile`` (``--profile``).
"""
