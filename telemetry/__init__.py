"""What every process of the product reports about itself: ids and trace context
(``ids``, ``tracing``). Shared by the gateway and the backends, and above the wire."""
