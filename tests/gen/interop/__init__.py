__all__ = ['ttypes', 'constants', 'Interop', 'SecondService']
