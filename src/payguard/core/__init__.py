"""Pure domain: events, decisions, reasons, errors, clock. No I/O and no framework imports."""
