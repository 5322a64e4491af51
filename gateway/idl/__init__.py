"""What the gateway knows of each service's IDL: the type model (``model``), the
configured services (``catalog``), and ``.thrift`` files read at run time with no
compiler (``reader.load_service``, which alone needs the Lark parser). Above the base
(configuration, errors), below everything that calls a service."""
