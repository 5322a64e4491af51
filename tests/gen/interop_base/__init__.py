__all__ = ['ttypes', 'constants', 'BaseService']
