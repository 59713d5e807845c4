"""Phone profiles (TOML data files), shipped inside the installed package."""
