__all__ = ['ttypes', 'constants', 'Users']
