"""What a measurement becomes: leaderboard rows and their boards, provenance, the
README tables, plots and the leaderboard site."""
