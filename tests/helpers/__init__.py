"""What several tests share that is not a fixture (fixtures stay in the conftest files)."""
