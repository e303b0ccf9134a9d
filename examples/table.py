"""Print the README's table of submitted rows from the leaderboard CSV:
.venv/bin/python examples/table.py [leaderboards/digits_linf.csv]"""

import sys

from robustbench_snn.leaderboard import default_path, read

MEMBERS = ("apgd-ce", "apgd-t", "worst-surrogate", "square")

board = read(sys.argv[1] if len(sys.argv) > 1 else default_path("digits", "linf"))
rows = board[board["source"] == "submitted"].sort_values("robust_acc", ascending=False)
print("| submission | neurons | clean | claimed (PGD-10) | standard | APGD-CE | +APGD-T | +worst surrogate | +Square | flags |")
print("|---|---|---|---|---|---|---|---|---|---|")
for _, r in rows.iterrows():
    members = " | ".join(f"{r[f'acc_{m}']:.2f}" for m in MEMBERS)
    print(f"| {r['model']} | {r['neuron']} | {r['clean_acc']:.2f} | {r['claimed_robust']:.2f} | **{r['robust_acc']:.2f}** | {members} | {r['flags']} |")
