"""Bid security (投标保证金, 电子保函, 投标保证保险): guarantee issuers and the signed messages
exchanged with them (docs/issuer-api.md); guarantees, deposits, refunds and claims build on
these."""
