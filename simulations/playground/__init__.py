"""The playground: the real exporter, Prometheus and controller on a simulated GPU fleet,
on 127.0.0.1, in a few minutes (``make playground``); and the twin check against
``simulate --policy ours`` (:mod:`simulations.playground.twin`)."""
