"""The configuration management database's pure core: its policy, the graph index and impact, file formats."""
