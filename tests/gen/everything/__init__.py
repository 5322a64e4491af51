__all__ = ['ttypes', 'constants', 'Base', 'Showroom', 'Extended']
