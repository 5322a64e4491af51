__all__ = ['ttypes', 'constants', 'Cache']
IDL = 'thrift_idl/cache.thrift'
