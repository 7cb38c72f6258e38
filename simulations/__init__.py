"""Trace-driven simulation of a GPU inference fleet under autoscaling policies.

``traces`` loads and generates requests, ``fleet`` models the replicas, ``policies``
holds ours (the decision core, unchanged) and the baselines, ``engine`` steps one run,
``compare`` runs several and ``cli`` is ``gpu-autoscaler simulate``. docs/simulation.md
describes the model and its validation and holds the results.
"""
