"""One module per family of fraud typologies; each typology is a function that builds one
campaign's events into a `payguard.sim.tactics.Campaign`, starting at a given time."""
