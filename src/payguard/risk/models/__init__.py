"""Model scorers plugged into the engine through `risk.interfaces.Scorer`."""
