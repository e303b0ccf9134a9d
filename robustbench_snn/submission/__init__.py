"""`rbsnn submit`: a submitted model.py evaluated in a confined worker process, its
answer checked, then archived and ranked."""
