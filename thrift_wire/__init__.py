"""The Thrift wire layer both the gateway and the backends use.

Nothing here does I/O (the model is h11): bytes go in, messages come out, and the bytes
to send come back as values, so every format is testable without a socket and the
socket, timeout and pool policies are written once, elsewhere.

* ``limits`` - the length limits every connection in the product applies.
* ``protocols`` - one codec per Thrift protocol (binary, compact, JSON): a message to
  bytes and back.
* ``framing`` - one per transport (framed, buffered i.e. unframed, THeader).
* ``ends`` - where an unframed message ends, found across the chunks it arrives in, so
  that it is parsed once rather than again at every chunk.
* ``codec`` - a connection's format (transport, protocol, multiplexing); the client's
  codec (a call out, its reply checked and decoded) and the server's (its format
  detected from a client's first bytes, answered in kind).
* ``methods`` - the method table of a generated service module.
* ``headers`` - the THeader header names we use; ``sockets`` - the one send helper both
  sides share (the only I/O in the package).
"""
