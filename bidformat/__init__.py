"""The formats the bidder's tool and the platform share: the sealed bid (``sealing``), the
price sheet (``price``) and the device marks (``device``). Both sides import these modules;
they import nothing of either side's, only ``signing`` and core's pure helpers."""
