"""Feature computation from entity state: velocity windows, first-seen, profiles, geo."""
