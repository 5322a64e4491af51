__all__ = ['ttypes', 'constants', 'Showcase']
