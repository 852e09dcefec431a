"""Every benchmark of finesim: encoding, memory, engines, search, training, serving, classifying.

Each benchmark is a command that prints JSON. Speed is measured in one run, side by side,
with interleaved repetitions and medians, and set against the machine's own fp32 limit.
"""
