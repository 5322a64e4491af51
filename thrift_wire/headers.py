"""The THeader key/value headers the gateway sets on a call and the backends read."""

REQUEST_ID_HEADER = "request-id"  # the HTTP request's X-Request-ID
TRACEPARENT_HEADER = "traceparent"  # W3C trace context: the calling span
TRACESTATE_HEADER = "tracestate"
