__all__ = ['ttypes', 'constants', 'Showcase']
IDL = 'tests/idl/showcase.thrift'
