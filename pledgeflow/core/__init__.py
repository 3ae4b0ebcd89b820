"""Settings, the registry database (models, engine, migrations), pledge ids and public links."""
