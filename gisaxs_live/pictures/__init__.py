"""Pictures for people (matplotlib, imported lazily here and nowhere else): pure functions from data to a Figure."""
