"""Quick-to-import twins of the hpcq.api _pb2 modules: see hpcq/protolite.py."""
