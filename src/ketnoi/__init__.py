"""ketnoi: the Government–Citizen communication platform (hotline 1022)."""

__version__ = "0.1.0"
