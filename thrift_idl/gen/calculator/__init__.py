__all__ = ['ttypes', 'constants', 'Calculator']
IDL = 'thrift_idl/calculator.thrift'
