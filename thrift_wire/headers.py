"""The keys of the THeader key/value headers the gateway sets on a call and the backends
read (the HTTP side's header names are its own: ``X-Request-ID``, ``traceparent``)."""

REQUEST_ID_KEY = "request-id"  # the HTTP request's X-Request-ID
TRACEPARENT_KEY = "traceparent"  # W3C trace context: the calling span
TRACESTATE_KEY = "tracestate"
# The whole milliseconds left of the caller's deadline when the call was sent (reddit's
# baseplate's name): a server does not start a call whose budget is gone.
DEADLINE_BUDGET_KEY = "Deadline-Budget"
# The message of the TApplicationException a server answers such a call with; the
# gateway tells it from other application exceptions by it.
DEADLINE_EXCEEDED_MESSAGE = "deadline exceeded: the call's Deadline-Budget ran out before it was served"


def budget_header(seconds_left: float) -> str:
    """``Deadline-Budget``'s value: whole milliseconds, at least 1."""
    return str(max(1, int(seconds_left * 1000)))
