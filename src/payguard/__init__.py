"""payguard: security and risk platform for mobile-payment operators and their partners."""

__version__ = "0.1.0"
