"""Custom spiders for shops the generic readers cannot handle (named by `spider:` in a spec)."""
