"""The newcomer's Heron plugin is its own distribution: its tests run where it is installed
(tests/test_newcomer_heron.py installs it in a throwaway virtualenv), not in this suite."""

collect_ignore = ["collector-heron"]
