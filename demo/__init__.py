"""The demo: a seeded data set, the demo PKI, the demo clock and the scripted tender life
cycle, stage by stage (``run.LIFE_CYCLE``). It drives the platform as its users would, over
HTTP and with the bidder's tool; it depends on the domains, and nothing depends on it."""
