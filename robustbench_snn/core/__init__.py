"""The SNN primitives and the small shared pieces every layer uses: errors and limits,
the generic name registry, surrogate gradients, neurons, encoders, per-example random
streams, atomic writes, JSON input and the user's data folder. Imports nothing above it."""
