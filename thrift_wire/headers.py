"""The keys of the THeader key/value headers the gateway sets on a call and the backends
read (the HTTP side's header names are its own: ``X-Request-ID``, ``traceparent``)."""

REQUEST_ID_KEY = "request-id"  # the HTTP request's X-Request-ID
TRACEPARENT_KEY = "traceparent"  # W3C trace context: the calling span
TRACESTATE_KEY = "tracestate"
