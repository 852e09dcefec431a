"""Engines that run ``finesim encode`` somewhere other than this process (``ray_encode``).

Ray is an optional extra (``pip install 'finesim[ray]'``); nothing here imports it at import
time, so finesim works without it.
"""
