"""Parts of :mod:`molspace.screen`: the partition function, resumable partition store,
the finalizing pass (global dedup, top-k, summary) and the executors that map
partitions in-process or on Dask. Import the public API from ``molspace.screen``.
"""
