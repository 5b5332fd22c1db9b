"""The transport axis: what every server mode shares, whatever the task.

* :mod:`~hfe_core.transport.deadline`: a total deadline per request (``timeout`` covers the
  whole request, connect to last byte), for httpx clients, sync and async;
* :mod:`~hfe_core.transport.loops`: one async client per running event loop, closed when that
  loop shuts down;
* :mod:`~hfe_core.transport.permits`: a request's slot under the adaptive limit of requests in
  flight, sync and async (a cancelled call's slot held until its request ends);
* :mod:`~hfe_core.transport.responses`: every HTTP answer judged at one place (:func:`classify`:
  retry, split, fail or a typed error, credentials scrubbed) and the wait before the next attempt.
"""
