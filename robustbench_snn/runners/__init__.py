"""Running evaluations at scale: sharded resumable sweeps and attack progress."""
