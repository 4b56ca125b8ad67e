"""Synthetic mobile-payment traffic with labelled fraud typologies.

`simulate` gives a finite, seeded, time-ordered run for training and backtests; `stream` gives
an endless one for live demos. Both yield `SimulatedEvent`s whose `request` is in payguard's
assessment wire format.
"""

from payguard.sim.traffic import SimulatedEvent, simulate, stream

__all__ = ["SimulatedEvent", "simulate", "stream"]
