"""What a measurement becomes: leaderboard rows and their boards, provenance, the
tables of the README and the docs, plots and the leaderboard site."""
