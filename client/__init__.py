"""The code that runs on a bidder's or an officer's own machine: seal, submit, status,
withdraw and decrypt a bid, sign in to the opening hall, open one's own bid, hand over an
officer's share, sign files, verify any signed artifact offline.

It imports no server module: only the shared formats (``bidformat``: the bid format, the
price sheet, device marks), ``signing`` and core's pure helpers, so it can be audited and
shipped on its own. An import-linter contract in ``make test`` holds it to that.
"""
