"""The tests mirror src/nnlab/, one folder a subpackage; ``helpers`` (beside this file) is
importable from every folder because pytest puts this folder on sys.path for its conftest."""
