"""Turning JSON into Thrift calls of any configured service and their results back
(``/rpc`` and the REST routes use it); above the upstream side, below HTTP."""
