"""Sealed bids: the bid format, uploads, finalize with receipts, withdrawal, the bidder tool."""
