"""The transport axis: what every server mode shares, whatever the task.

* :mod:`~hfe_core.transport.deadline`: a total deadline per request (``timeout`` covers the
  whole request, connect to last byte), for httpx clients, sync and async;
* :mod:`~hfe_core.transport.loops`: one async client per running event loop, closed when that
  loop shuts down.
"""
